// Package kvmtest is the one way a gonest test gets at /dev/kvm.
//
// Open skips the calling test, with the reason, when /dev/kvm cannot be
// used, so unit tests pass on laptops and CI runners without KVM. Setting
// GONEST_REQUIRE_KVM=1 turns that skip into a failure: the lab and any
// runner that is supposed to have KVM set it, so a broken /dev/kvm cannot
// pass silently as "skipped". Tests that need nested virtualization use
// NestedUnavailable, governed by GONEST_REQUIRE_NESTED in the same way,
// because a machine can have working KVM that cannot nest (this project's
// development hosts run kvm_pvm).
//
// VM, VCPU and Memory create the usual objects and release them when the
// test ends, so a test reads as its guest setup and nothing else. VCPU also
// sets the guest CPUID, first, as KVM needs it before special registers
// and MSRs.
//
// A test whose guest spins forever with RFLAGS.IF=0 and never exits calls
// RequireStopWithIFClear first: such a guest leaves KVM_RUN only through a
// host interrupt, which some platforms never deliver to it (Bochs 2.7's
// VMX), so no VMM can stop it there. A probe measures this once per test
// binary (ProbeSpinStop) and the test skips with the figures instead of
// hanging; it fails when even a guest with IF=1 cannot be stopped.
// RunAndStop runs a vCPU, cancels it and waits, for tests of stopping.
package kvmtest
