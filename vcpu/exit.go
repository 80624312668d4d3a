package vcpu

import (
	"fmt"

	"github.com/gonest/gonest/kvm"
)

// Exit is one decoded reason for KVM_RUN returning to userspace. The
// concrete types are the pointer types below (*ExitIO, *ExitMMIO, ...).
type Exit interface {
	// Reason returns the KVM_EXIT_* value the exit was decoded from.
	Reason() kvm.ExitReason
}

// Direction is the direction of a port I/O access.
type Direction uint8

// Port I/O directions.
const (
	In  Direction = kvm.IODirectionIn  // KVM_EXIT_IO_IN: the guest reads from the port
	Out Direction = kvm.IODirectionOut // KVM_EXIT_IO_OUT: the guest writes to the port
)

func (d Direction) String() string {
	if d == Out {
		return "out"
	}
	return "in"
}

// ExitIO is KVM_EXIT_IO: an IN/OUT or string INS/OUTS instruction.
type ExitIO struct {
	Port      uint16
	Direction Direction
	Size      uint8  // bytes per element: 1, 2 or 4
	Count     uint32 // elements; >1 for a rep ins/outs
	// Data holds Size*Count bytes, element after element. For Out it is what
	// the guest wrote; for In the VMM fills it. It aliases kvm_run for an
	// exit decoded from a real vCPU.
	Data []byte
}

// ExitMMIO is KVM_EXIT_MMIO: a guest access to a physical address with no
// memory slot.
type ExitMMIO struct {
	Addr  uint64
	Write bool
	// Data holds the access, 1 to 8 bytes. For a write it is what the guest
	// wrote; for a read the VMM fills it. It aliases kvm_run.
	Data []byte
}

// ExitHLT is KVM_EXIT_HLT: the guest executed HLT and there is no in-kernel
// local APIC to wait for an interrupt.
type ExitHLT struct{}

// ExitShutdown is KVM_EXIT_SHUTDOWN: the vCPU triple-faulted (or, on AMD,
// hit another shutdown condition).
type ExitShutdown struct{}

// ExitFailEntry is KVM_EXIT_FAIL_ENTRY: the processor refused to enter the
// guest, usually because of invalid guest state.
type ExitFailEntry struct {
	HardwareReason uint64 // hardware_entry_failure_reason (VMX exit reason, SVM exit code)
	CPU            uint32 // host CPU the entry was tried on
}

// ExitInternalError is KVM_EXIT_INTERNAL_ERROR: KVM itself could not go on,
// most often because its instruction emulator failed.
type ExitInternalError struct {
	Suberror uint32   // kvm.InternalError*
	Data     []uint64 // suberror-specific words (at most 16)
}

// ExitSystemEvent is KVM_EXIT_SYSTEM_EVENT: the guest asked for a shutdown,
// reset, or reported a crash.
type ExitSystemEvent struct {
	Type uint32   // kvm.SystemEvent*
	Data []uint64 // event-specific words (at most 16)
}

// ExitIntr is KVM_EXIT_INTR: a signal, or kvm_run.immediate_exit, made
// KVM_RUN return EINTR before or while running the guest.
type ExitIntr struct{}

// ExitUnknown is KVM_EXIT_UNKNOWN: a hardware exit KVM could not handle.
type ExitUnknown struct {
	HardwareReason uint64 // hw.hardware_exit_reason
}

// ExitDebug is KVM_EXIT_DEBUG: a guest debug event (single step,
// breakpoint) requested with KVM_SET_GUEST_DEBUG.
type ExitDebug struct {
	Exception uint32
	PC        uint64
	DR6, DR7  uint64
}

// ExitUnhandled is any other exit reason; gonest never asks KVM for them,
// so seeing one is fatal.
type ExitUnhandled struct {
	Code kvm.ExitReason
}

func (*ExitIO) Reason() kvm.ExitReason            { return kvm.ExitIO }
func (*ExitMMIO) Reason() kvm.ExitReason          { return kvm.ExitMMIO }
func (*ExitHLT) Reason() kvm.ExitReason           { return kvm.ExitHLT }
func (*ExitShutdown) Reason() kvm.ExitReason      { return kvm.ExitShutdown }
func (*ExitFailEntry) Reason() kvm.ExitReason     { return kvm.ExitFailEntry }
func (*ExitInternalError) Reason() kvm.ExitReason { return kvm.ExitInternalError }
func (*ExitSystemEvent) Reason() kvm.ExitReason   { return kvm.ExitSystemEvent }
func (*ExitIntr) Reason() kvm.ExitReason          { return kvm.ExitIntr }
func (*ExitUnknown) Reason() kvm.ExitReason       { return kvm.ExitUnknown }
func (*ExitDebug) Reason() kvm.ExitReason         { return kvm.ExitDebug }
func (e *ExitUnhandled) Reason() kvm.ExitReason   { return e.Code }

// MaxIOData bounds the data of one port I/O exit: KVM passes it in the one
// page that follows struct kvm_run (KVM_PIO_PAGE_OFFSET), so size*count can
// never legitimately exceed a page.
const MaxIOData = 4096

// Decoder turns kvm_run into typed exits without allocating: it keeps one
// value of each exit type and returns a pointer to it. An Exit returned by
// Decode is valid until the next Decode.
type Decoder struct {
	io       ExitIO
	mmio     ExitMMIO
	hlt      ExitHLT
	shutdown ExitShutdown
	fail     ExitFailEntry
	internal ExitInternalError
	event    ExitSystemEvent
	intr     ExitIntr
	unknown  ExitUnknown
	debug    ExitDebug
	other    ExitUnhandled
}

// Decode reads the exit in r. It fails, with the partly decoded exit, when
// the kernel's description does not fit the run page (data offsets and
// counts are checked, never trusted).
func (d *Decoder) Decode(r *kvm.Run) (Exit, error) {
	switch reason := r.ExitReason(); reason {
	case kvm.ExitIO:
		io := r.IO()
		d.io = ExitIO{Port: io.Port, Direction: Direction(io.Direction), Size: io.Size, Count: io.Count}
		if uint64(io.Size)*uint64(io.Count) > MaxIOData {
			return &d.io, fmt.Errorf("port %#x: %d elements of %d bytes exceed the %d-byte I/O page", io.Port, io.Count, io.Size, MaxIOData)
		}
		data, err := r.IOData()
		if err != nil {
			return &d.io, err
		}
		d.io.Data = data
		return &d.io, nil
	case kvm.ExitMMIO:
		m := r.MMIO()
		d.mmio = ExitMMIO{Addr: m.PhysAddr, Write: m.IsWrite != 0}
		data, err := r.MMIOData()
		if err != nil {
			return &d.mmio, err
		}
		d.mmio.Data = data
		return &d.mmio, nil
	case kvm.ExitHLT:
		return &d.hlt, nil
	case kvm.ExitShutdown:
		return &d.shutdown, nil
	case kvm.ExitFailEntry:
		f := r.FailEntry()
		d.fail = ExitFailEntry{HardwareReason: f.HardwareEntryFailureReason, CPU: f.CPU}
		return &d.fail, nil
	case kvm.ExitInternalError:
		in := r.Internal()
		n := min(int(in.NData), len(in.Data))
		d.internal = ExitInternalError{Suberror: in.Suberror, Data: in.Data[:n:n]}
		return &d.internal, nil
	case kvm.ExitSystemEvent:
		ev := r.SystemEvent()
		n := min(int(ev.NData), len(ev.Data))
		d.event = ExitSystemEvent{Type: ev.Type, Data: ev.Data[:n:n]}
		return &d.event, nil
	case kvm.ExitIntr:
		return &d.intr, nil
	case kvm.ExitUnknown:
		d.unknown = ExitUnknown{HardwareReason: r.HardwareExitReason()}
		return &d.unknown, nil
	case kvm.ExitDebug:
		g := r.Debug()
		d.debug = ExitDebug{Exception: g.Exception, PC: g.PC, DR6: g.DR6, DR7: g.DR7}
		return &d.debug, nil
	default:
		d.other = ExitUnhandled{Code: reason}
		return &d.other, nil
	}
}

// cloneExit returns a copy of e that owns its data, for keeping an exit past
// the next KVM_RUN (in a FatalError).
func cloneExit(e Exit) Exit {
	switch e := e.(type) {
	case *ExitIO:
		c := *e
		c.Data = append([]byte(nil), e.Data...)
		return &c
	case *ExitMMIO:
		c := *e
		c.Data = append([]byte(nil), e.Data...)
		return &c
	case *ExitInternalError:
		c := *e
		c.Data = append([]uint64(nil), e.Data...)
		return &c
	case *ExitSystemEvent:
		c := *e
		c.Data = append([]uint64(nil), e.Data...)
		return &c
	case *ExitFailEntry:
		c := *e
		return &c
	case *ExitUnknown:
		c := *e
		return &c
	case *ExitDebug:
		c := *e
		return &c
	case *ExitUnhandled:
		c := *e
		return &c
	}
	return e // the field-less exits carry nothing to copy
}
