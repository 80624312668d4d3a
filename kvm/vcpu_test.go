package kvm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// A vCPU handle on a closed fd (-1): any ioctl it issued would fail with
// EBADF, so an error wrapping ErrCPUIDNotSet and not EBADF proves the
// setter refused before reaching the kernel.
func closedVCPU() *VCPU { return &VCPU{fd: -1} }

// The setters KVM validates against the guest CPUID refuse to run before
// SetCPUID2, whatever the values.
func TestSettersRefuseBeforeCPUID(t *testing.T) {
	tests := []struct {
		name string
		call func(v *VCPU) error
		want string
	}{
		{"KVM_SET_SREGS", func(v *VCPU) error { return v.SetSregs(Sregs{}) },
			"KVM_SET_SREGS: guest CPUID not set yet; call SetCPUID2 first (KVM checks CR4, EFER and MSRs against it)"},
		{"KVM_SET_MSRS", func(v *VCPU) error { _, err := v.SetMSRs([]MSREntry{{Index: 0x3a}}); return err },
			"KVM_SET_MSRS: guest CPUID not set yet; call SetCPUID2 first (KVM checks CR4, EFER and MSRs against it)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(closedVCPU())
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrCPUIDNotSet)
			assert.NotErrorIs(t, err, unix.EBADF, "no ioctl may be issued")
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

// Once SetCPUID2 succeeded the setters issue their ioctl (here EBADF); a
// failed SetCPUID2 makes them refuse again, since KVM may then hold no
// valid table.
func TestSettersFollowCPUIDState(t *testing.T) {
	v := closedVCPU()
	v.cpuidSet = true // what a successful SetCPUID2 records
	err := v.SetSregs(Sregs{})
	assert.ErrorIs(t, err, unix.EBADF)
	assert.NotErrorIs(t, err, ErrCPUIDNotSet)
	_, err = v.SetMSRs([]MSREntry{{Index: 0x3a}})
	assert.ErrorIs(t, err, unix.EBADF)

	err = v.SetCPUID2([]CPUIDEntry2{{Function: 0}})
	require.ErrorIs(t, err, unix.EBADF)
	assert.ErrorIs(t, v.SetSregs(Sregs{}), ErrCPUIDNotSet)
}

// An empty MSR list writes nothing, so it needs no CPUID either.
func TestSetMSRsEmptyNeedsNothing(t *testing.T) {
	n, err := closedVCPU().SetMSRs(nil)
	require.NoError(t, err)
	assert.Equal(t, 0, n)
}
