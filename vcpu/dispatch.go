package vcpu

import (
	"errors"
	"fmt"

	"github.com/gonest/gonest/devices"
	"github.com/gonest/gonest/kvm"
)

// Action tells the run loop what to do after an exit.
type Action int

// Actions.
const (
	// ActionResume re-enters the guest.
	ActionResume Action = iota
	// ActionHalt: the guest executed HLT and it reached userspace (no
	// in-kernel LAPIC). The board decides whether to wait for an interrupt
	// and run again, or to end the VM.
	ActionHalt
	// ActionPoweroff: the guest asked to power off (KVM_SYSTEM_EVENT_SHUTDOWN).
	ActionPoweroff
	// ActionReset: the guest asked for a reset (KVM_SYSTEM_EVENT_RESET).
	ActionReset
	// ActionInterrupted: KVM_RUN returned EINTR (a signal or
	// immediate_exit). The run loop resumes unless it was asked to stop.
	ActionInterrupted
)

var actionNames = [...]string{
	ActionResume:      "resume",
	ActionHalt:        "halt",
	ActionPoweroff:    "poweroff",
	ActionReset:       "reset",
	ActionInterrupted: "interrupted",
}

func (a Action) String() string {
	if a >= 0 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// ErrMalformedExit is wrapped by errors about an exit whose sizes or counts
// make no sense (they come from KVM, so this means a KVM bug or a test
// feeding a hostile exit; the VMM stops instead of touching bad memory).
var ErrMalformedExit = errors.New("malformed exit")

// Handler dispatches exits to the two buses. It holds no file descriptor:
// tests feed Dispatch exits they make up.
type Handler struct {
	PIO  *devices.Bus // port I/O; nil means no port is mapped
	MMIO *devices.Bus // MMIO; nil means no address is mapped
	// Stats, if set, counts accesses that no device claimed.
	Stats *Stats
}

// Dispatch carries out one exit: port I/O and MMIO go to the buses, HLT and
// system events become actions, and fatal exits (SHUTDOWN, FAIL_ENTRY,
// INTERNAL_ERROR, UNKNOWN, crash events, anything unexpected) return a
// *FatalError without registers, which the run loop fills in.
//
// An access that no device claims is not an error: reads see all-ones,
// writes are dropped, and Stats counts it.
func (h *Handler) Dispatch(e Exit) (Action, error) {
	switch e := e.(type) {
	case *ExitIO:
		return ActionResume, h.dispatchIO(e)
	case *ExitMMIO:
		return ActionResume, h.dispatchMMIO(e)
	case *ExitHLT:
		return ActionHalt, nil
	case *ExitIntr:
		return ActionInterrupted, nil
	case *ExitSystemEvent:
		switch e.Type {
		case kvm.SystemEventShutdown:
			return ActionPoweroff, nil
		case kvm.SystemEventReset:
			return ActionReset, nil
		case kvm.SystemEventWakeup:
			return ActionResume, nil
		}
	}
	return ActionResume, &FatalError{Exit: cloneExit(e)}
}

func (h *Handler) dispatchIO(e *ExitIO) error {
	size := int(e.Size)
	switch {
	case size != 1 && size != 2 && size != 4:
		return h.malformed(e, "port %#x: access size %d is not 1, 2 or 4", e.Port, size)
	case e.Count == 0:
		return h.malformed(e, "port %#x: zero element count", e.Port)
	case uint64(size)*uint64(e.Count) > MaxIOData:
		return h.malformed(e, "port %#x: %d elements of %d bytes exceed the %d-byte I/O page", e.Port, e.Count, size, MaxIOData)
	case len(e.Data) != size*int(e.Count):
		return h.malformed(e, "port %#x: %d data bytes for %d elements of %d bytes", e.Port, len(e.Data), e.Count, size)
	}
	port := uint64(e.Port)
	for off := 0; off < len(e.Data); off += size {
		elem := e.Data[off : off+size : off+size]
		if e.Direction == Out {
			if !busWrite(h.PIO, port, elem) {
				h.Stats.unmappedPIO(e.Port, true)
			}
		} else if !busRead(h.PIO, port, elem) {
			h.Stats.unmappedPIO(e.Port, false)
		}
	}
	return nil
}

func (h *Handler) dispatchMMIO(e *ExitMMIO) error {
	switch len(e.Data) {
	case 1, 2, 4, 8:
	default:
		return h.malformed(e, "mmio %#x: access size %d is not 1, 2, 4 or 8", e.Addr, len(e.Data))
	}
	if e.Addr+uint64(len(e.Data)) < e.Addr {
		return h.malformed(e, "mmio %#x+%d wraps around the address space", e.Addr, len(e.Data))
	}
	if e.Write {
		if !busWrite(h.MMIO, e.Addr, e.Data) {
			h.Stats.unmappedMMIO(e.Addr, true)
		}
	} else if !busRead(h.MMIO, e.Addr, e.Data) {
		h.Stats.unmappedMMIO(e.Addr, false)
	}
	return nil
}

func (h *Handler) malformed(e Exit, format string, args ...any) error {
	return &FatalError{Exit: cloneExit(e), Err: fmt.Errorf("%w: "+format, append([]any{ErrMalformedExit}, args...)...)}
}

// busRead reads through b, or fills data with all-ones (a floating bus)
// when b is nil.
func busRead(b *devices.Bus, addr uint64, data []byte) bool {
	if b == nil {
		for i := range data {
			data[i] = 0xff
		}
		return false
	}
	return b.Read(addr, data)
}

func busWrite(b *devices.Bus, addr uint64, data []byte) bool {
	if b == nil {
		return false
	}
	return b.Write(addr, data)
}
