package kvm

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// NewRun wraps mem, a vCPU's mmapped kvm_run region (or, in tests, a plain
// buffer of at least the size of struct kvm_run), in a typed view.
func NewRun(mem []byte) (*Run, error) {
	if len(mem) < int(sizeofRunLayout) {
		return nil, fmt.Errorf("kvm_run region of %d bytes is smaller than struct kvm_run (%d)", len(mem), sizeofRunLayout)
	}
	if uintptr(unsafe.Pointer(&mem[0]))%unsafe.Alignof(uint64(0)) != 0 {
		return nil, fmt.Errorf("kvm_run region at %p is not 8-byte aligned", &mem[0])
	}
	return &Run{mem: mem, l: (*runLayout)(unsafe.Pointer(&mem[0]))}, nil
}

// exitUnion returns a pointer to the exit union reinterpreted as *T. Every
// T used here is at most 256 bytes and 8-byte aligned, like the union.
func exitUnion[T any](r *Run) *T {
	return (*T)(unsafe.Pointer(&r.l.Exit[0]))
}

// IO returns kvm_run.io (KVM_EXIT_IO).
func (r *Run) IO() *RunIO { return exitUnion[RunIO](r) }

// MMIO returns kvm_run.mmio (KVM_EXIT_MMIO).
func (r *Run) MMIO() *RunMMIO { return exitUnion[RunMMIO](r) }

// FailEntry returns kvm_run.fail_entry (KVM_EXIT_FAIL_ENTRY).
func (r *Run) FailEntry() *RunFailEntry { return exitUnion[RunFailEntry](r) }

// Internal returns kvm_run.internal (KVM_EXIT_INTERNAL_ERROR).
func (r *Run) Internal() *RunInternal { return exitUnion[RunInternal](r) }

// SystemEvent returns kvm_run.system_event (KVM_EXIT_SYSTEM_EVENT).
func (r *Run) SystemEvent() *RunSystemEvent { return exitUnion[RunSystemEvent](r) }

// Debug returns kvm_run.debug (KVM_EXIT_DEBUG).
func (r *Run) Debug() *RunDebug { return exitUnion[RunDebug](r) }

// immediateExitShift is the bit position of immediate_exit (byte 1) in the
// little-endian 32-bit word at the start of kvm_run.
const immediateExitShift = 8

// SetImmediateExit sets or clears kvm_run.immediate_exit. While it is set,
// KVM_RUN returns EINTR at once instead of entering the guest. It is safe to
// call from any goroutine: the byte is updated with a compare-and-swap on
// the aligned word holding it, so the neighbouring request_interrupt_window
// byte is never clobbered.
func (r *Run) SetImmediateExit(on bool) {
	word := (*uint32)(unsafe.Pointer(&r.l.RequestInterruptWindow))
	var b uint32
	if on {
		b = 1
	}
	for {
		old := atomic.LoadUint32(word)
		next := old&^(0xff<<immediateExitShift) | b<<immediateExitShift
		if old == next || atomic.CompareAndSwapUint32(word, old, next) {
			return
		}
	}
}

// ImmediateExit reports whether kvm_run.immediate_exit is set.
func (r *Run) ImmediateExit() bool {
	word := (*uint32)(unsafe.Pointer(&r.l.RequestInterruptWindow))
	return atomic.LoadUint32(word)>>immediateExitShift&0xff != 0
}

// SetRequestInterruptWindow sets kvm_run.request_interrupt_window, asking
// for KVM_EXIT_IRQ_WINDOW_OPEN once the guest can take an interrupt. Only
// the vCPU's own thread may call it.
func (r *Run) SetRequestInterruptWindow(on bool) {
	word := (*uint32)(unsafe.Pointer(&r.l.RequestInterruptWindow))
	var b uint32
	if on {
		b = 1
	}
	for {
		old := atomic.LoadUint32(word)
		next := old&^0xff | b
		if old == next || atomic.CompareAndSwapUint32(word, old, next) {
			return
		}
	}
}
