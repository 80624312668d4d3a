package kvm

import "fmt"

// Cap is a KVM capability number, the argument of KVM_CHECK_EXTENSION.
type Cap uint32

// Capabilities gonest asks about. The values are KVM_CAP_* from
// <linux/kvm.h>.
const (
	CapIRQChip             Cap = 0   // KVM_CAP_IRQCHIP: in-kernel PIC/IOAPIC/LAPIC
	CapHLT                 Cap = 1   // KVM_CAP_HLT
	CapUserMemory          Cap = 3   // KVM_CAP_USER_MEMORY
	CapSetTSSAddr          Cap = 4   // KVM_CAP_SET_TSS_ADDR
	CapExtCPUID            Cap = 7   // KVM_CAP_EXT_CPUID: KVM_GET_SUPPORTED_CPUID
	CapNRVCPUs             Cap = 9   // KVM_CAP_NR_VCPUS: recommended vCPUs per VM
	CapNRMemslots          Cap = 10  // KVM_CAP_NR_MEMSLOTS
	CapPIT                 Cap = 11  // KVM_CAP_PIT
	CapMPState             Cap = 14  // KVM_CAP_MP_STATE
	CapSyncMMU             Cap = 16  // KVM_CAP_SYNC_MMU
	CapUserNMI             Cap = 22  // KVM_CAP_USER_NMI
	CapSetGuestDebug       Cap = 23  // KVM_CAP_SET_GUEST_DEBUG
	CapIRQRouting          Cap = 25  // KVM_CAP_IRQ_ROUTING: KVM_SET_GSI_ROUTING
	CapIRQInjectStatus     Cap = 26  // KVM_CAP_IRQ_INJECT_STATUS: KVM_IRQ_LINE_STATUS
	CapIRQFD               Cap = 32  // KVM_CAP_IRQFD
	CapPIT2                Cap = 33  // KVM_CAP_PIT2: KVM_CREATE_PIT2
	CapPITState2           Cap = 35  // KVM_CAP_PIT_STATE2
	CapIOEventFD           Cap = 36  // KVM_CAP_IOEVENTFD
	CapSetIdentityMapAddr  Cap = 37  // KVM_CAP_SET_IDENTITY_MAP_ADDR
	CapAdjustClock         Cap = 39  // KVM_CAP_ADJUST_CLOCK: KVM_GET_CLOCK/KVM_SET_CLOCK
	CapInternalErrorData   Cap = 40  // KVM_CAP_INTERNAL_ERROR_DATA
	CapVCPUEvents          Cap = 41  // KVM_CAP_VCPU_EVENTS
	CapDebugRegs           Cap = 50  // KVM_CAP_DEBUGREGS
	CapEnableCap           Cap = 54  // KVM_CAP_ENABLE_CAP (vCPU)
	CapXSave               Cap = 55  // KVM_CAP_XSAVE
	CapXCRs                Cap = 56  // KVM_CAP_XCRS
	CapGetTSCKHz           Cap = 61  // KVM_CAP_GET_TSC_KHZ
	CapMaxVCPUs            Cap = 66  // KVM_CAP_MAX_VCPUS: hard vCPU limit per VM
	CapOneReg              Cap = 70  // KVM_CAP_ONE_REG
	CapTSCDeadlineTimer    Cap = 72  // KVM_CAP_TSC_DEADLINE_TIMER
	CapKVMClockCtrl        Cap = 76  // KVM_CAP_KVMCLOCK_CTRL
	CapSignalMSI           Cap = 77  // KVM_CAP_SIGNAL_MSI
	CapReadonlyMem         Cap = 81  // KVM_CAP_READONLY_MEM
	CapIRQFDResample       Cap = 82  // KVM_CAP_IRQFD_RESAMPLE
	CapExtEmulCPUID        Cap = 95  // KVM_CAP_EXT_EMUL_CPUID: KVM_GET_EMULATED_CPUID
	CapSplitIRQChip        Cap = 121 // KVM_CAP_SPLIT_IRQCHIP: LAPIC in kernel, PIC/IOAPIC in userspace
	CapIOEventFDAnyLength  Cap = 122 // KVM_CAP_IOEVENTFD_ANY_LENGTH
	CapMaxVCPUID           Cap = 128 // KVM_CAP_MAX_VCPU_ID
	CapX2APICAPI           Cap = 129 // KVM_CAP_X2APIC_API
	CapMSIDevID            Cap = 131 // KVM_CAP_MSI_DEVID
	CapImmediateExit       Cap = 136 // KVM_CAP_IMMEDIATE_EXIT: kvm_run.immediate_exit
	CapX86DisableExits     Cap = 143 // KVM_CAP_X86_DISABLE_EXITS
	CapGetMSRFeatures      Cap = 153 // KVM_CAP_GET_MSR_FEATURES: feature MSRs on /dev/kvm
	CapNestedState         Cap = 157 // KVM_CAP_NESTED_STATE: returns the max nested state size, 0 if none
	CapExceptionPayload    Cap = 164 // KVM_CAP_EXCEPTION_PAYLOAD
	CapX86UserSpaceMSR     Cap = 188 // KVM_CAP_X86_USER_SPACE_MSR
	CapBinaryStatsFD       Cap = 203 // KVM_CAP_BINARY_STATS_FD: KVM_GET_STATS_FD
	CapX86TripleFaultEvent Cap = 218 // KVM_CAP_X86_TRIPLE_FAULT_EVENT
)

var capNames = map[Cap]string{
	CapIRQChip:             "KVM_CAP_IRQCHIP",
	CapHLT:                 "KVM_CAP_HLT",
	CapUserMemory:          "KVM_CAP_USER_MEMORY",
	CapSetTSSAddr:          "KVM_CAP_SET_TSS_ADDR",
	CapExtCPUID:            "KVM_CAP_EXT_CPUID",
	CapNRVCPUs:             "KVM_CAP_NR_VCPUS",
	CapNRMemslots:          "KVM_CAP_NR_MEMSLOTS",
	CapPIT:                 "KVM_CAP_PIT",
	CapMPState:             "KVM_CAP_MP_STATE",
	CapSyncMMU:             "KVM_CAP_SYNC_MMU",
	CapUserNMI:             "KVM_CAP_USER_NMI",
	CapSetGuestDebug:       "KVM_CAP_SET_GUEST_DEBUG",
	CapIRQRouting:          "KVM_CAP_IRQ_ROUTING",
	CapIRQInjectStatus:     "KVM_CAP_IRQ_INJECT_STATUS",
	CapIRQFD:               "KVM_CAP_IRQFD",
	CapPIT2:                "KVM_CAP_PIT2",
	CapPITState2:           "KVM_CAP_PIT_STATE2",
	CapIOEventFD:           "KVM_CAP_IOEVENTFD",
	CapSetIdentityMapAddr:  "KVM_CAP_SET_IDENTITY_MAP_ADDR",
	CapAdjustClock:         "KVM_CAP_ADJUST_CLOCK",
	CapInternalErrorData:   "KVM_CAP_INTERNAL_ERROR_DATA",
	CapVCPUEvents:          "KVM_CAP_VCPU_EVENTS",
	CapDebugRegs:           "KVM_CAP_DEBUGREGS",
	CapEnableCap:           "KVM_CAP_ENABLE_CAP",
	CapXSave:               "KVM_CAP_XSAVE",
	CapXCRs:                "KVM_CAP_XCRS",
	CapGetTSCKHz:           "KVM_CAP_GET_TSC_KHZ",
	CapMaxVCPUs:            "KVM_CAP_MAX_VCPUS",
	CapOneReg:              "KVM_CAP_ONE_REG",
	CapTSCDeadlineTimer:    "KVM_CAP_TSC_DEADLINE_TIMER",
	CapKVMClockCtrl:        "KVM_CAP_KVMCLOCK_CTRL",
	CapSignalMSI:           "KVM_CAP_SIGNAL_MSI",
	CapReadonlyMem:         "KVM_CAP_READONLY_MEM",
	CapIRQFDResample:       "KVM_CAP_IRQFD_RESAMPLE",
	CapExtEmulCPUID:        "KVM_CAP_EXT_EMUL_CPUID",
	CapSplitIRQChip:        "KVM_CAP_SPLIT_IRQCHIP",
	CapIOEventFDAnyLength:  "KVM_CAP_IOEVENTFD_ANY_LENGTH",
	CapMaxVCPUID:           "KVM_CAP_MAX_VCPU_ID",
	CapX2APICAPI:           "KVM_CAP_X2APIC_API",
	CapMSIDevID:            "KVM_CAP_MSI_DEVID",
	CapImmediateExit:       "KVM_CAP_IMMEDIATE_EXIT",
	CapX86DisableExits:     "KVM_CAP_X86_DISABLE_EXITS",
	CapGetMSRFeatures:      "KVM_CAP_GET_MSR_FEATURES",
	CapNestedState:         "KVM_CAP_NESTED_STATE",
	CapExceptionPayload:    "KVM_CAP_EXCEPTION_PAYLOAD",
	CapX86UserSpaceMSR:     "KVM_CAP_X86_USER_SPACE_MSR",
	CapBinaryStatsFD:       "KVM_CAP_BINARY_STATS_FD",
	CapX86TripleFaultEvent: "KVM_CAP_X86_TRIPLE_FAULT_EVENT",
}

// String returns the C name, or "KVM_CAP(n)" for a number this package does
// not name.
func (c Cap) String() string {
	if s, ok := capNames[c]; ok {
		return s
	}
	return fmt.Sprintf("KVM_CAP(%d)", uint32(c))
}
