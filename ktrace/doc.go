// Package ktrace counts KVM's exit tracepoints through tracefs, to show who
// handles each exit of a nested guest.
//
// When G1 runs its own guest G2, every exit of G2 lands in L0, the host's
// KVM. L0 handles some itself and reflects the rest into G1, which then
// takes many exits of its own to handle the reflected one and enter G2
// again. L0's tracepoints (arch/x86/kvm/trace.h) see all of it:
//
//	kvm_exit                   every exit L0 takes, G1's and G2's alike
//	kvm_nested_vmexit          the exits taken while G2 ran
//	kvm_nested_vmexit_inject   the exits L0 reflected into G1
//	kvm_nested_vmenter         G1's VMRUN or VMLAUNCH/VMRESUME, emulated by L0
//
// so G2's exits that L0 kept are kvm_nested_vmexit minus
// kvm_nested_vmexit_inject, reason by reason, and G1's own exits are
// kvm_exit minus kvm_nested_vmexit (Counts.Attribute).
//
// # Formats
//
// kvm_exit and kvm_nested_vmexit share one definition
// (TRACE_EVENT_KVM_EXIT): exit_reason, guest_rip, isa, info1, info2,
// intr_info, error_code, vcpu_id. kvm_nested_vmexit_inject has exit_code,
// exit_info1, exit_info2, exit_int_info, exit_int_info_err and isa;
// kvm_nested_vmenter has rip, vmcb, nested_rip, int_ctl, event_inj,
// tdp_enabled, guest_pgd and isa. Linux 6.1 and 6.12 agree on all four.
// The isa field (1 VMX, 2 SVM) says how to read the code: an SVM exit code
// whole (AMD APM vol. 2, appendix C), a VMX exit reason by its low 16 bits
// with flags above (Intel SDM vol. 3, appendix C). ReasonName names codes
// with the kernel's own tables (SVM_EXIT_REASONS, VMX_EXIT_REASONS), so a
// name here is the name the trace file prints.
//
// # Counting
//
// A Session works in its own trace instance (instances/gonest-PID), so it
// never disturbs the global buffer or another tool. Where the kernel has
// hist triggers (CONFIG_HIST_TRIGGERS, set in Debian's 6.1 kernels) it
// installs one paused trigger per event, keyed by exit code and isa, and
// Start/Stop become :clear,:cont and :pause: the kernel counts, no event
// is written anywhere, and Snapshot reads the hist files. Otherwise it
// enables the events into the instance's ring buffer and counts the lines
// of its trace file; events the buffer overwrote are reported as lost.
//
// An event that does not exist (kvm not loaded, an older kernel) is
// reported unavailable, and the others are still counted. The events come
// from every VM of the KVM they trace, so a window counts only one nested
// chain when L0 runs only one VM, as the lab's H does.
package ktrace
