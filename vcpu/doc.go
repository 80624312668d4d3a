// Package vcpu runs a KVM vCPU: it turns each return from KVM_RUN into a
// typed exit, dispatches it to the devices on the buses, and hands the
// board the few events only it can act on.
//
// # From KVM_RUN to a device and back
//
// When the guest executes OUT, KVM stops it and KVM_RUN returns to the
// vCPU's thread with kvm_run.exit_reason = KVM_EXIT_IO and the port, size,
// count and data in the kvm_run page. The run loop (VCPU.Run):
//
//  1. counts the exit by reason (Stats, for -stats);
//  2. decodes kvm_run into an *ExitIO (Decoder), checking that the data the
//     kernel points at lies inside the run page;
//  3. dispatches it (Handler.Dispatch): each element of a string I/O goes to
//     the port bus in order, which calls the device holding the port with
//     the offset inside its range; an IN stores the device's answer in the
//     same bytes of the run page, where KVM picks it up;
//  4. calls KVM_RUN again, resuming the guest after the instruction.
//
// MMIO follows the same path with *ExitMMIO and the MMIO bus. An access no
// device claims reads as all-ones and its writes are dropped, as on a real
// floating bus; it is counted, not treated as an error.
//
// Decoding and dispatching are pure: they need no fd, so the tests feed
// them made-up and hostile exits (a rep outsb whose count would run past
// the page, say) and check the result without KVM. Neither allocates.
//
// # What ends a run
//
// Run returns an Action when the board must decide: the guest halted with
// no in-kernel LAPIC (ActionHalt), asked for a poweroff or reset through a
// system event (ActionPoweroff, ActionReset), or the context was cancelled
// (ActionInterrupted). It returns a *FatalError when the guest cannot go on:
// a triple fault (KVM_EXIT_SHUTDOWN), a failed VM entry, a KVM internal
// error or an unknown exit. The error's one-line message names the exit and
// RIP; Dump adds every register.
//
// # Stopping a vCPU
//
// Cancelling Run's context stops the guest within milliseconds, even one
// spinning in code KVM has to emulate: the run loop sets
// kvm_run.immediate_exit and signals the vCPU thread with SIGURG until it
// has left KVM_RUN (see kickSignal in vcpu.go for why that signal).
//
// Inspect uses the same kick to pause a running guest for a moment: the
// function it is given runs on the vCPU's thread between two KVM_RUNs,
// then the guest goes on. That is how gonest reads KVM_GET_NESTED_STATE
// while a guest runs its own guest (vCPU ioctls wait for KVM_RUN to
// return, so no other thread can).
//
// # Register setup
//
// modes.go builds the segment and control registers of real mode, flat
// 32-bit protected mode, 64-bit long mode and CPL 3, with a small flat GDT
// whose descriptors match the cached segment state, and names every
// control-register and RFLAGS bit it uses.
package vcpu
