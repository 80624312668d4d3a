package kvmtest

import (
	"os"
	"testing"

	"github.com/gonest/gonest/guestmem"
	"github.com/gonest/gonest/kvm"
)

// Environment variables that turn a skip into a failure.
const (
	// RequireEnv=1: a test that cannot get a working /dev/kvm (or a
	// capability every current KVM has) fails instead of skipping.
	RequireEnv = "GONEST_REQUIRE_KVM"
	// RequireNestedEnv=1: a test that needs nested virtualization (SVM or
	// VMX offered to the guest, KVM_CAP_NESTED_STATE) fails instead of
	// skipping. The lab sets it; this development host cannot nest.
	RequireNestedEnv = "GONEST_REQUIRE_NESTED"
)

// Open returns an open /dev/kvm, closed when the test ends. When KVM is not
// usable it skips the test with the reason, or fails it if
// GONEST_REQUIRE_KVM=1.
func Open(t testing.TB) *kvm.System {
	t.Helper()
	sys, err := kvm.Open()
	if err != nil {
		Unavailable(t, err.Error())
	}
	t.Cleanup(func() {
		if err := sys.Close(); err != nil {
			t.Errorf("close /dev/kvm: %v", err)
		}
	})
	return sys
}

// Unavailable ends the test because something KVM-related it needs is
// missing: a skip with the reason, or a failure under GONEST_REQUIRE_KVM=1.
// Use it for missing capabilities too (for example KVM_CAP_NESTED_STATE on a
// host without nesting), so the reason is always stated.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("KVM required (%s=1) but unavailable: %s", RequireEnv, reason)
	}
	t.Skipf("skipping: KVM unavailable: %s (set %s=1 to make this a failure)", reason, RequireEnv)
}

// RequireCap returns KVM_CHECK_EXTENSION(c) on sys, ending the test with
// Unavailable when it is 0.
func RequireCap(t testing.TB, sys *kvm.System, c kvm.Cap) int {
	t.Helper()
	n, err := sys.CheckExtension(c)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if n == 0 {
		Unavailable(t, "host KVM lacks "+c.String())
	}
	return n
}

// NestedUnavailable ends a test that needs nested virtualization: a skip
// with the reason, or a failure under GONEST_REQUIRE_NESTED=1.
func NestedUnavailable(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(RequireNestedEnv) == "1" {
		t.Fatalf("nested virtualization required (%s=1) but unavailable: %s", RequireNestedEnv, reason)
	}
	t.Skipf("skipping: nested virtualization unavailable: %s (set %s=1 to make this a failure)", reason, RequireNestedEnv)
}

// VM creates a VM on sys, closed when the test ends.
func VM(t testing.TB, sys *kvm.System) *kvm.VM {
	t.Helper()
	vm, err := sys.CreateVM()
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := vm.Close(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return vm
}

// VCPU creates vCPU id on vm, closed when the test ends, and gives it the
// guest CPUID KVM supports on sys (KVM_GET_SUPPORTED_CPUID, then
// KVM_SET_CPUID2) before returning it. KVM checks CR4, EFER and some MSRs
// against the guest CPUID, so a test vCPU always has one before its
// registers are set: a test cannot set special registers first, and
// kvm.VCPU refuses that order anyway (kvm.ErrCPUIDNotSet). A test that
// wants another table calls SetCPUID2 again before the first Run.
func VCPU(t testing.TB, sys *kvm.System, vm *kvm.VM, id int) *kvm.VCPU {
	t.Helper()
	v := BareVCPU(t, vm, id)
	cpuid, err := sys.GetSupportedCPUID()
	if err != nil {
		t.Fatalf("%v", err)
	}
	if err := v.SetCPUID2(cpuid); err != nil {
		t.Fatalf("vcpu %d: %v", id, err)
	}
	return v
}

// BareVCPU creates vCPU id on vm without a guest CPUID, closed when the
// test ends: for tests of vCPU creation and of the CPUID order itself.
func BareVCPU(t testing.TB, vm *kvm.VM, id int) *kvm.VCPU {
	t.Helper()
	v, err := vm.CreateVCPU(id)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := v.Close(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return v
}

// Memory maps anonymous guest RAM for each range and registers it with vm in
// slots 0, 1, ...; both are released when the test ends.
func Memory(t testing.TB, vm *kvm.VM, ranges ...guestmem.Range) *guestmem.Memory {
	t.Helper()
	mem, err := guestmem.Map(ranges...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if err := mem.Close(); err != nil {
			t.Errorf("%v", err)
		}
	})
	for i, r := range mem.Regions() {
		if err := vm.SetUserMemoryRegion(uint32(i), 0, r.GPA, uint64(len(r.Data)), r.HostAddr()); err != nil {
			t.Fatalf("%v", err)
		}
	}
	return mem
}
