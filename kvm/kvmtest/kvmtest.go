// Package kvmtest is the one way a gonest test gets at /dev/kvm.
//
// Open skips the calling test, with the reason, when /dev/kvm cannot be
// used, so unit tests pass on laptops and CI runners without KVM. Setting
// GONEST_REQUIRE_KVM=1 turns that skip into a failure: the lab and any
// runner that is supposed to have KVM set it, so a broken /dev/kvm cannot
// pass silently as "skipped".
package kvmtest

import (
	"os"
	"testing"

	"github.com/gonest/gonest/guestmem"
	"github.com/gonest/gonest/kvm"
)

// RequireEnv is the environment variable that turns a skip into a failure.
const RequireEnv = "GONEST_REQUIRE_KVM"

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

// VCPU creates vCPU id on vm, closed when the test ends.
func VCPU(t testing.TB, vm *kvm.VM, id int) *kvm.VCPU {
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
