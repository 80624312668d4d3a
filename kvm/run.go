package kvm

import "fmt"

// ExitReason is kvm_run.exit_reason.
type ExitReason uint32

// Exit reasons (KVM_EXIT_*).
const (
	ExitUnknown       ExitReason = 0  // KVM_EXIT_UNKNOWN: hardware exit KVM could not handle
	ExitException     ExitReason = 1  // KVM_EXIT_EXCEPTION
	ExitIO            ExitReason = 2  // KVM_EXIT_IO: port I/O
	ExitHypercall     ExitReason = 3  // KVM_EXIT_HYPERCALL
	ExitDebug         ExitReason = 4  // KVM_EXIT_DEBUG
	ExitHLT           ExitReason = 5  // KVM_EXIT_HLT: HLT without an in-kernel LAPIC
	ExitMMIO          ExitReason = 6  // KVM_EXIT_MMIO
	ExitIRQWindowOpen ExitReason = 7  // KVM_EXIT_IRQ_WINDOW_OPEN
	ExitShutdown      ExitReason = 8  // KVM_EXIT_SHUTDOWN: triple fault
	ExitFailEntry     ExitReason = 9  // KVM_EXIT_FAIL_ENTRY: VM entry failed
	ExitIntr          ExitReason = 10 // KVM_EXIT_INTR: a signal interrupted KVM_RUN
	ExitSetTPR        ExitReason = 11 // KVM_EXIT_SET_TPR
	ExitTPRAccess     ExitReason = 12 // KVM_EXIT_TPR_ACCESS
	ExitNMI           ExitReason = 16 // KVM_EXIT_NMI
	ExitInternalError ExitReason = 17 // KVM_EXIT_INTERNAL_ERROR: KVM could not go on (emulation failure, ...)
	ExitSystemEvent   ExitReason = 24 // KVM_EXIT_SYSTEM_EVENT: shutdown, reset, crash
	ExitIOAPICEOI     ExitReason = 26 // KVM_EXIT_IOAPIC_EOI (split irqchip)
	ExitHyperV        ExitReason = 27 // KVM_EXIT_HYPERV
	ExitX86RDMSR      ExitReason = 29 // KVM_EXIT_X86_RDMSR (user-space MSRs)
	ExitX86WRMSR      ExitReason = 30 // KVM_EXIT_X86_WRMSR
	ExitDirtyRingFull ExitReason = 31 // KVM_EXIT_DIRTY_RING_FULL
	ExitAPResetHold   ExitReason = 32 // KVM_EXIT_AP_RESET_HOLD
	ExitX86BusLock    ExitReason = 33 // KVM_EXIT_X86_BUS_LOCK
	ExitNotify        ExitReason = 37 // KVM_EXIT_NOTIFY
	ExitMemoryFault   ExitReason = 39 // KVM_EXIT_MEMORY_FAULT
	ExitReasonLimit   ExitReason = 40 // one past the highest reason this package names
	exitReasonUnnamed            = "KVM_EXIT_%d"
)

var exitNames = [ExitReasonLimit]string{
	ExitUnknown:       "KVM_EXIT_UNKNOWN",
	ExitException:     "KVM_EXIT_EXCEPTION",
	ExitIO:            "KVM_EXIT_IO",
	ExitHypercall:     "KVM_EXIT_HYPERCALL",
	ExitDebug:         "KVM_EXIT_DEBUG",
	ExitHLT:           "KVM_EXIT_HLT",
	ExitMMIO:          "KVM_EXIT_MMIO",
	ExitIRQWindowOpen: "KVM_EXIT_IRQ_WINDOW_OPEN",
	ExitShutdown:      "KVM_EXIT_SHUTDOWN",
	ExitFailEntry:     "KVM_EXIT_FAIL_ENTRY",
	ExitIntr:          "KVM_EXIT_INTR",
	ExitSetTPR:        "KVM_EXIT_SET_TPR",
	ExitTPRAccess:     "KVM_EXIT_TPR_ACCESS",
	ExitNMI:           "KVM_EXIT_NMI",
	ExitInternalError: "KVM_EXIT_INTERNAL_ERROR",
	ExitSystemEvent:   "KVM_EXIT_SYSTEM_EVENT",
	ExitIOAPICEOI:     "KVM_EXIT_IOAPIC_EOI",
	ExitHyperV:        "KVM_EXIT_HYPERV",
	ExitX86RDMSR:      "KVM_EXIT_X86_RDMSR",
	ExitX86WRMSR:      "KVM_EXIT_X86_WRMSR",
	ExitDirtyRingFull: "KVM_EXIT_DIRTY_RING_FULL",
	ExitAPResetHold:   "KVM_EXIT_AP_RESET_HOLD",
	ExitX86BusLock:    "KVM_EXIT_X86_BUS_LOCK",
	ExitNotify:        "KVM_EXIT_NOTIFY",
	ExitMemoryFault:   "KVM_EXIT_MEMORY_FAULT",
}

// String returns the C name, or KVM_EXIT_<n> for reasons without one here.
func (r ExitReason) String() string {
	if r < ExitReasonLimit && exitNames[r] != "" {
		return exitNames[r]
	}
	return fmt.Sprintf(exitReasonUnnamed, uint32(r))
}

// Port I/O directions (kvm_run.io.direction).
const (
	IODirectionIn  = 0 // KVM_EXIT_IO_IN: the guest reads; userspace fills the data
	IODirectionOut = 1 // KVM_EXIT_IO_OUT: the guest writes
)

// System event types (kvm_run.system_event.type).
const (
	SystemEventShutdown = 1 // KVM_SYSTEM_EVENT_SHUTDOWN: the guest powered off (e.g. PSCI, ACPI in-kernel)
	SystemEventReset    = 2 // KVM_SYSTEM_EVENT_RESET
	SystemEventCrash    = 3 // KVM_SYSTEM_EVENT_CRASH: the guest reported a crash (Hyper-V, pvpanic)
	SystemEventWakeup   = 4 // KVM_SYSTEM_EVENT_WAKEUP
	SystemEventSuspend  = 5 // KVM_SYSTEM_EVENT_SUSPEND
	SystemEventSEVTerm  = 6 // KVM_SYSTEM_EVENT_SEV_TERM
)

// Internal error suberrors (kvm_run.internal.suberror).
const (
	InternalErrorEmulation            = 1 // KVM_INTERNAL_ERROR_EMULATION: KVM's emulator failed on an instruction
	InternalErrorSimulEx              = 2 // KVM_INTERNAL_ERROR_SIMUL_EX: simultaneous exceptions
	InternalErrorDeliveryEv           = 3 // KVM_INTERNAL_ERROR_DELIVERY_EV: exit while delivering an event
	InternalErrorUnexpectedExitReason = 4 // KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON
)

// runLayout mirrors struct kvm_run on x86-64.
type runLayout struct {
	RequestInterruptWindow     uint8
	ImmediateExit              uint8
	_                          [6]uint8
	ExitReason                 uint32
	ReadyForInterruptInjection uint8
	IFFlag                     uint8
	Flags                      uint16
	CR8                        uint64
	APICBase                   uint64
	Exit                       [runExitUnionSize]byte // the exit union (io, mmio, ...)
	ValidRegs                  uint64                 // kvm_valid_regs
	DirtyRegs                  uint64                 // kvm_dirty_regs
	S                          [2048]byte             // union { kvm_sync_regs regs; padding[2048] }
}

const (
	runExitUnionOffset = 32  // offsetof(struct kvm_run, io)
	runExitUnionSize   = 256 // the union's char padding[256]
)

// RunIO mirrors the io member of kvm_run's exit union.
type RunIO struct {
	Direction  uint8 // IODirectionIn or IODirectionOut
	Size       uint8 // bytes per element: 1, 2 or 4
	Port       uint16
	Count      uint32 // elements (>1 for rep ins/outs)
	DataOffset uint64 // offset of the data from the start of kvm_run
}

// RunMMIO mirrors the mmio member of kvm_run's exit union.
type RunMMIO struct {
	PhysAddr uint64
	Data     [8]uint8
	Len      uint32
	IsWrite  uint8
	_        [3]uint8
}

// RunFailEntry mirrors the fail_entry member of kvm_run's exit union.
type RunFailEntry struct {
	HardwareEntryFailureReason uint64
	CPU                        uint32
	_                          uint32
}

// RunInternal mirrors the internal member of kvm_run's exit union.
type RunInternal struct {
	Suberror uint32
	NData    uint32
	Data     [16]uint64
}

// RunSystemEvent mirrors the system_event member of kvm_run's exit union.
type RunSystemEvent struct {
	Type  uint32
	NData uint32
	Data  [16]uint64 // union { flags; data[16] }
}

// RunDebug mirrors the debug member (struct kvm_debug_exit_arch on x86).
type RunDebug struct {
	Exception uint32
	_         uint32
	PC        uint64
	DR6       uint64
	DR7       uint64
}

// Run is a typed view of a vCPU's kvm_run page.
//
// Accessors return pointers into the page; what they point at changes with
// every KVM_RUN. The page is written by the kernel and by exactly one
// thread, the one running the vCPU, except for the immediate_exit byte,
// which SetImmediateExit changes atomically from any goroutine.
type Run struct {
	mem []byte
	l   *runLayout
}

// Size is the length of the mapped region.
func (r *Run) Size() int { return len(r.mem) }

// ExitReason returns kvm_run.exit_reason.
func (r *Run) ExitReason() ExitReason { return ExitReason(r.l.ExitReason) }

// SetExitReason sets kvm_run.exit_reason. Only tests need it, to fake exits.
func (r *Run) SetExitReason(e ExitReason) { r.l.ExitReason = uint32(e) }

// RequestInterruptWindow returns kvm_run.request_interrupt_window.
func (r *Run) RequestInterruptWindow() bool { return r.l.RequestInterruptWindow != 0 }

// ReadyForInterruptInjection returns kvm_run.ready_for_interrupt_injection.
func (r *Run) ReadyForInterruptInjection() bool { return r.l.ReadyForInterruptInjection != 0 }

// IFFlag returns kvm_run.if_flag: the guest's RFLAGS.IF at exit.
func (r *Run) IFFlag() bool { return r.l.IFFlag != 0 }

// CR8 returns kvm_run.cr8.
func (r *Run) CR8() uint64 { return r.l.CR8 }

// APICBase returns kvm_run.apic_base.
func (r *Run) APICBase() uint64 { return r.l.APICBase }

// HardwareExitReason returns kvm_run.hw.hardware_exit_reason (for
// KVM_EXIT_UNKNOWN).
func (r *Run) HardwareExitReason() uint64 { return le.Uint64(r.l.Exit[:]) }

// IOData returns the data of a KVM_EXIT_IO: Size*Count bytes at DataOffset
// inside the page. It fails, instead of reaching past the mapping, if the
// kernel's offset and count do not fit.
func (r *Run) IOData() ([]byte, error) {
	io := r.IO()
	n := uint64(io.Size) * uint64(io.Count)
	end := io.DataOffset + n
	if end < io.DataOffset || end > uint64(len(r.mem)) {
		return nil, fmt.Errorf("kvm_run io data %#x+%d*%d is outside the %d-byte run page",
			io.DataOffset, io.Size, io.Count, len(r.mem))
	}
	return r.mem[io.DataOffset:end:end], nil
}

// MMIOData returns the len bytes of kvm_run.mmio.data, aliasing the page:
// for a read, the VMM writes the value there before the next KVM_RUN.
func (r *Run) MMIOData() ([]byte, error) {
	m := r.MMIO()
	if m.Len > uint32(len(m.Data)) {
		return nil, fmt.Errorf("kvm_run mmio length %d exceeds %d", m.Len, len(m.Data))
	}
	return m.Data[:m.Len:m.Len], nil
}

// Bytes returns the whole mapped region. Tests use it to build fake exits.
func (r *Run) Bytes() []byte { return r.mem }
