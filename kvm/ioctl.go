package kvm

// Request numbers are built the way <asm-generic/ioctl.h> builds them:
//
//	bits 31-30 direction, 29-16 argument size, 15-8 type (KVMIO), 7-0 number.
const (
	iocNone  = 0 // _IOC_NONE
	iocWrite = 1 // _IOC_WRITE: userspace writes the argument to the kernel
	iocRead  = 2 // _IOC_READ: the kernel writes the argument back

	iocNRShift   = 0
	iocTypeShift = 8
	iocSizeShift = 16
	iocDirShift  = 30

	kvmio = 0xAE // KVMIO
)

func ioc(dir, nr, size uintptr) uintptr {
	return dir<<iocDirShift | kvmio<<iocTypeShift | nr<<iocNRShift | size<<iocSizeShift
}

func ioNone(nr uintptr) uintptr     { return ioc(iocNone, nr, 0) }             // _IO
func ioR(nr, size uintptr) uintptr  { return ioc(iocRead, nr, size) }          // _IOR
func ioW(nr, size uintptr) uintptr  { return ioc(iocWrite, nr, size) }         // _IOW
func ioWR(nr, size uintptr) uintptr { return ioc(iocRead|iocWrite, nr, size) } // _IOWR

// Request numbers, one per ioctl this package issues. Sizes come from the
// mirrored structs (sizes_unsafe.go); ioctl_test.go checks every number
// against the kernel's literal value.
var (
	// System ioctls (/dev/kvm).
	reqGetAPIVersion          = ioNone(0x00)                        // KVM_GET_API_VERSION
	reqCreateVM               = ioNone(0x01)                        // KVM_CREATE_VM
	reqGetMSRIndexList        = ioWR(0x02, sizeofMSRList)           // KVM_GET_MSR_INDEX_LIST
	reqCheckExtension         = ioNone(0x03)                        // KVM_CHECK_EXTENSION
	reqGetVCPUMmapSize        = ioNone(0x04)                        // KVM_GET_VCPU_MMAP_SIZE
	reqGetSupportedCPUID      = ioWR(0x05, sizeofCPUID2)            // KVM_GET_SUPPORTED_CPUID
	reqGetEmulatedCPUID       = ioWR(0x09, sizeofCPUID2)            // KVM_GET_EMULATED_CPUID
	reqGetMSRFeatureIndexList = ioWR(0x0a, sizeofMSRList)           // KVM_GET_MSR_FEATURE_INDEX_LIST
	reqCreateVCPU             = ioNone(0x41)                        // KVM_CREATE_VCPU
	reqSetUserMemoryRegion    = ioW(0x46, sizeofUserMemoryRegion)   // KVM_SET_USER_MEMORY_REGION
	reqSetTSSAddr             = ioNone(0x47)                        // KVM_SET_TSS_ADDR
	reqSetIdentityMapAddr     = ioW(0x48, 8)                        // KVM_SET_IDENTITY_MAP_ADDR (__u64)
	reqCreateIRQChip          = ioNone(0x60)                        // KVM_CREATE_IRQCHIP
	reqIRQLine                = ioW(0x61, sizeofIRQLevel)           // KVM_IRQ_LINE
	reqIRQLineStatus          = ioWR(0x67, sizeofIRQLevel)          // KVM_IRQ_LINE_STATUS
	reqSetGSIRouting          = ioW(0x6a, sizeofIRQRouting)         // KVM_SET_GSI_ROUTING
	reqIRQFD                  = ioW(0x76, sizeofIRQFD)              // KVM_IRQFD
	reqCreatePIT2             = ioW(0x77, sizeofPITConfig)          // KVM_CREATE_PIT2
	reqIOEventFD              = ioW(0x79, sizeofIOEventFD)          // KVM_IOEVENTFD
	reqSetClock               = ioW(0x7b, sizeofClockData)          // KVM_SET_CLOCK
	reqGetClock               = ioR(0x7c, sizeofClockData)          // KVM_GET_CLOCK
	reqEnableCap              = ioW(0xa3, sizeofEnableCap)          // KVM_ENABLE_CAP
	reqSignalMSI              = ioW(0xa5, sizeofMSI)                // KVM_SIGNAL_MSI
	reqGetStatsFD             = ioNone(0xce)                        // KVM_GET_STATS_FD
	reqRun                    = ioNone(0x80)                        // KVM_RUN
	reqGetRegs                = ioR(0x81, sizeofRegs)               // KVM_GET_REGS
	reqSetRegs                = ioW(0x82, sizeofRegs)               // KVM_SET_REGS
	reqGetSregs               = ioR(0x83, sizeofSregs)              // KVM_GET_SREGS
	reqSetSregs               = ioW(0x84, sizeofSregs)              // KVM_SET_SREGS
	reqGetMSRs                = ioWR(0x88, sizeofMSRs)              // KVM_GET_MSRS
	reqSetMSRs                = ioW(0x89, sizeofMSRs)               // KVM_SET_MSRS
	reqSetSignalMask          = ioW(0x8b, sizeofSignalMask)         // KVM_SET_SIGNAL_MASK
	reqGetFPU                 = ioR(0x8c, sizeofFPU)                // KVM_GET_FPU
	reqSetFPU                 = ioW(0x8d, sizeofFPU)                // KVM_SET_FPU
	reqGetLAPIC               = ioR(0x8e, sizeofLAPICState)         // KVM_GET_LAPIC
	reqSetLAPIC               = ioW(0x8f, sizeofLAPICState)         // KVM_SET_LAPIC
	reqSetCPUID2              = ioW(0x90, sizeofCPUID2)             // KVM_SET_CPUID2
	reqGetCPUID2              = ioWR(0x91, sizeofCPUID2)            // KVM_GET_CPUID2
	reqGetMPState             = ioR(0x98, sizeofMPState)            // KVM_GET_MP_STATE
	reqSetMPState             = ioW(0x99, sizeofMPState)            // KVM_SET_MP_STATE
	reqGetVCPUEvents          = ioR(0x9f, sizeofVCPUEvents)         // KVM_GET_VCPU_EVENTS
	reqSetVCPUEvents          = ioW(0xa0, sizeofVCPUEvents)         // KVM_SET_VCPU_EVENTS
	reqGetNestedState         = ioWR(0xbe, sizeofNestedStateHeader) // KVM_GET_NESTED_STATE
	reqSetNestedState         = ioW(0xbf, sizeofNestedStateHeader)  // KVM_SET_NESTED_STATE
	reqGetTSCKHz              = ioNone(0xa3)                        // KVM_GET_TSC_KHZ
)
