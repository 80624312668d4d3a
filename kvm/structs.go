package kvm

// Regs mirrors struct kvm_regs: the general-purpose registers, RIP and
// RFLAGS.
type Regs struct {
	RAX, RBX, RCX, RDX uint64
	RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11   uint64
	R12, R13, R14, R15 uint64
	RIP, RFLAGS        uint64
}

// Segment mirrors struct kvm_segment: a segment register with its hidden
// descriptor cache. The one-byte flags are 0 or 1.
type Segment struct {
	Base     uint64
	Limit    uint32
	Selector uint16
	Type     uint8 // descriptor type field (bits 8-11 of the high dword)
	Present  uint8 // P
	DPL      uint8 // descriptor privilege level, 0-3
	DB       uint8 // D/B: 32-bit default operand size
	S        uint8 // 1 for code/data, 0 for system segments
	L        uint8 // 64-bit code segment
	G        uint8 // granularity: limit counts 4 KiB pages
	AVL      uint8 // available to software
	Unusable uint8 // the segment is null/unusable
	_        uint8
}

// DTable mirrors struct kvm_dtable: a descriptor table register (GDTR,
// IDTR).
type DTable struct {
	Base  uint64
	Limit uint16
	_     [3]uint16
}

// Sregs mirrors struct kvm_sregs: segment and system registers.
type Sregs struct {
	CS, DS, ES, FS, GS, SS Segment
	TR, LDT                Segment
	GDT, IDT               DTable
	CR0, CR2, CR3, CR4     uint64
	CR8                    uint64
	EFER                   uint64
	APICBase               uint64
	// InterruptBitmap has the bit of a pending external interrupt set
	// (at most one bit).
	InterruptBitmap [4]uint64 // (KVM_NR_INTERRUPTS + 63) / 64
}

// FPU mirrors struct kvm_fpu: x87 and SSE state.
type FPU struct {
	FPR        [8][16]uint8
	FCW        uint16
	FSW        uint16
	FTWX       uint8 // in fxsave format
	_          uint8
	LastOpcode uint16
	LastIP     uint64
	LastDP     uint64
	XMM        [16][16]uint8
	MXCSR      uint32
	_          uint32
}

// MSREntry mirrors struct kvm_msr_entry.
type MSREntry struct {
	Index uint32
	_     uint32
	Data  uint64
}

// msrsHeader mirrors struct kvm_msrs without its flexible entries array.
type msrsHeader struct {
	NMSRs uint32
	_     uint32
}

// msrListHeader mirrors struct kvm_msr_list without its indices array.
type msrListHeader struct {
	NMSRs uint32
}

// CPUIDEntry2 mirrors struct kvm_cpuid_entry2: one CPUID leaf (Function)
// and subleaf (Index).
type CPUIDEntry2 struct {
	Function uint32
	Index    uint32
	Flags    uint32 // CPUIDFlag* bits
	EAX      uint32
	EBX      uint32
	ECX      uint32
	EDX      uint32
	_        [3]uint32
}

// CPUIDEntry2 flags.
const (
	CPUIDFlagSignificantIndex = 1 << 0 // KVM_CPUID_FLAG_SIGNIFCANT_INDEX: Index selects a subleaf
	CPUIDFlagStatefulFunc     = 1 << 1 // KVM_CPUID_FLAG_STATEFUL_FUNC (obsolete)
	CPUIDFlagStateReadNext    = 1 << 2 // KVM_CPUID_FLAG_STATE_READ_NEXT (obsolete)
)

// cpuid2Header mirrors struct kvm_cpuid2 without its entries array.
type cpuid2Header struct {
	NEnt uint32
	_    uint32
}

// UserspaceMemoryRegion mirrors struct kvm_userspace_memory_region.
type UserspaceMemoryRegion struct {
	Slot          uint32
	Flags         uint32 // MemLogDirtyPages, MemReadonly
	GuestPhysAddr uint64
	MemorySize    uint64 // bytes; 0 deletes the slot
	UserspaceAddr uint64 // host virtual address of the backing memory
}

// UserspaceMemoryRegion flags.
const (
	MemLogDirtyPages = 1 << 0 // KVM_MEM_LOG_DIRTY_PAGES
	MemReadonly      = 1 << 1 // KVM_MEM_READONLY: guest writes exit as MMIO
)

// PITConfig mirrors struct kvm_pit_config.
type PITConfig struct {
	Flags uint32 // PITSpeakerDummy
	_     [15]uint32
}

// PITSpeakerDummy (KVM_PIT_SPEAKER_DUMMY) makes KVM emulate a dummy port
// 0x61 speaker so the guest can read PIT channel 2's output there.
const PITSpeakerDummy = 1

// IRQLevel mirrors struct kvm_irq_level. For KVM_IRQ_LINE_STATUS the
// kernel writes the delivery status back over IRQ.
type IRQLevel struct {
	IRQ   uint32 // union { irq; status; }
	Level uint32
}

// MSI mirrors struct kvm_msi.
type MSI struct {
	AddressLo uint32
	AddressHi uint32
	Data      uint32
	Flags     uint32 // MSIValidDevID
	DevID     uint32
	_         [12]uint8
}

// MSIValidDevID (KVM_MSI_VALID_DEVID) says DevID is meaningful.
const MSIValidDevID = 1 << 0

// IRQFD mirrors struct kvm_irqfd.
type IRQFD struct {
	FD         uint32
	GSI        uint32
	Flags      uint32 // IRQFDFlag*
	ResampleFD uint32
	_          [16]uint8
}

// IRQFD flags.
const (
	IRQFDFlagDeassign = 1 << 0 // KVM_IRQFD_FLAG_DEASSIGN: detach the eventfd from the GSI
	IRQFDFlagResample = 1 << 1 // KVM_IRQFD_FLAG_RESAMPLE: level-triggered; ResampleFD is signalled on EOI
)

// IOEventFD mirrors struct kvm_ioeventfd.
type IOEventFD struct {
	Datamatch uint64
	Addr      uint64
	Len       uint32 // 0 (any length, with KVM_CAP_IOEVENTFD_ANY_LENGTH), 1, 2, 4 or 8
	FD        int32
	Flags     uint32 // IOEventFDFlag*
	_         [36]uint8
}

// IOEventFD flags.
const (
	IOEventFDFlagDatamatch = 1 << 0 // KVM_IOEVENTFD_FLAG_DATAMATCH: only writes of Datamatch signal
	IOEventFDFlagPIO       = 1 << 1 // KVM_IOEVENTFD_FLAG_PIO: Addr is a port, not MMIO
	IOEventFDFlagDeassign  = 1 << 2 // KVM_IOEVENTFD_FLAG_DEASSIGN
)

// ClockData mirrors struct kvm_clock_data.
type ClockData struct {
	Clock    uint64 // kvmclock nanoseconds
	Flags    uint32 // ClockTSCStable, ClockRealtime, ClockHostTSC
	_        uint32
	Realtime uint64
	HostTSC  uint64
	_        [4]uint32
}

// ClockData flags.
const (
	ClockTSCStable = 1 << 1 // KVM_CLOCK_TSC_STABLE
	ClockRealtime  = 1 << 2 // KVM_CLOCK_REALTIME: Realtime is valid
	ClockHostTSC   = 1 << 3 // KVM_CLOCK_HOST_TSC: HostTSC is valid
)

// EnableCap mirrors struct kvm_enable_cap.
type EnableCap struct {
	Cap   Cap
	Flags uint32
	Args  [4]uint64
	_     [64]uint8
}

// MPState mirrors struct kvm_mp_state.
type MPState struct {
	State uint32 // MPState* value
}

// Multiprocessing states of a vCPU.
const (
	MPStateRunnable      = 0  // KVM_MP_STATE_RUNNABLE
	MPStateUninitialized = 1  // KVM_MP_STATE_UNINITIALIZED: an AP waiting for INIT
	MPStateInitReceived  = 2  // KVM_MP_STATE_INIT_RECEIVED
	MPStateHalted        = 3  // KVM_MP_STATE_HALTED
	MPStateSIPIReceived  = 4  // KVM_MP_STATE_SIPI_RECEIVED
	MPStateStopped       = 5  // KVM_MP_STATE_STOPPED
	MPStateCheckStop     = 6  // KVM_MP_STATE_CHECK_STOP
	MPStateOperating     = 7  // KVM_MP_STATE_OPERATING
	MPStateLoad          = 8  // KVM_MP_STATE_LOAD
	MPStateAPResetHold   = 9  // KVM_MP_STATE_AP_RESET_HOLD
	MPStateSuspended     = 10 // KVM_MP_STATE_SUSPENDED
)

// signalMaskHeader mirrors struct kvm_signal_mask without its sigset.
type signalMaskHeader struct {
	Len uint32
}

// VCPUEventsException mirrors the exception member of struct
// kvm_vcpu_events.
type VCPUEventsException struct {
	Injected     uint8
	Nr           uint8
	HasErrorCode uint8
	Pending      uint8
	ErrorCode    uint32
}

// VCPUEventsInterrupt mirrors the interrupt member of struct
// kvm_vcpu_events.
type VCPUEventsInterrupt struct {
	Injected uint8
	Nr       uint8
	Soft     uint8
	Shadow   uint8
}

// VCPUEventsNMI mirrors the nmi member of struct kvm_vcpu_events.
type VCPUEventsNMI struct {
	Injected uint8
	Pending  uint8
	Masked   uint8
	_        uint8
}

// VCPUEventsSMI mirrors the smi member of struct kvm_vcpu_events.
type VCPUEventsSMI struct {
	SMM          uint8
	Pending      uint8
	SMMInsideNMI uint8
	LatchedInit  uint8
}

// VCPUEvents mirrors struct kvm_vcpu_events: pending and injected events.
type VCPUEvents struct {
	Exception           VCPUEventsException
	Interrupt           VCPUEventsInterrupt
	NMI                 VCPUEventsNMI
	SIPIVector          uint32
	Flags               uint32
	SMI                 VCPUEventsSMI
	TripleFaultPending  uint8 // triple_fault.pending
	_                   [26]uint8
	ExceptionHasPayload uint8
	ExceptionPayload    uint64
}
