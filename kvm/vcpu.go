package kvm

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// VCPU is a KVM virtual CPU: its fd and its mapped kvm_run page.
//
// vCPU ioctls should come from the thread that runs the vCPU (KVM moves
// state between threads otherwise); package vcpu locks its run loop to one
// OS thread.
type VCPU struct {
	fd     int
	id     int
	run    *Run
	runMem []byte
	// cpuidSet records a successful SetCPUID2: until then, SetSregs and
	// SetMSRs refuse to run (see ErrCPUIDNotSet).
	cpuidSet bool
}

// ErrCPUIDNotSet is what SetSregs and SetMSRs return, without issuing the
// ioctl, on a vCPU whose guest CPUID has not been set with SetCPUID2. KVM
// checks CR4 and EFER (KVM_SET_SREGS) and several MSRs (KVM_SET_MSRS, for
// example IA32_FEATURE_CONTROL) against the guest's CPUID, and a vCPU
// without one has none of its features: whether the values are refused
// then depends on the kernel version (ARCHITECTURE.md, "The order of vCPU
// setup"). Set the CPUID first, as every caller in gonest does.
var ErrCPUIDNotSet = errors.New("guest CPUID not set yet; call SetCPUID2 first (KVM checks CR4, EFER and MSRs against it)")

// FD returns the file descriptor.
func (v *VCPU) FD() int { return v.fd }

// ID returns the vCPU id passed to KVM_CREATE_VCPU (the APIC id).
func (v *VCPU) ID() int { return v.id }

// RunPage returns the vCPU's kvm_run page.
func (v *VCPU) RunPage() *Run { return v.run }

// Close unmaps kvm_run and closes the vCPU fd.
func (v *VCPU) Close() error {
	if v.fd < 0 {
		return nil
	}
	var errs []error
	if err := unix.Munmap(v.runMem); err != nil {
		errs = append(errs, fmt.Errorf("munmap kvm_run of vcpu %d: %w", v.id, err))
	}
	if err := unix.Close(v.fd); err != nil {
		errs = append(errs, fmt.Errorf("close vcpu %d: %w", v.id, err))
	}
	v.fd = -1
	v.runMem = nil
	return errors.Join(errs...)
}

// Run issues KVM_RUN: the vCPU runs until an exit needs userspace. The exit
// is described in RunPage(). EINTR (a signal, or immediate_exit) comes back
// wrapped; errors.Is(err, unix.EINTR) detects it.
func (v *VCPU) Run() error {
	if _, err := ioctl(v.fd, reqRun, 0); err != nil {
		return fmt.Errorf("KVM_RUN: %w", err)
	}
	return nil
}

// GetRegs issues KVM_GET_REGS.
func (v *VCPU) GetRegs() (Regs, error) {
	var r Regs
	if _, err := ioctlPtr(v.fd, reqGetRegs, &r); err != nil {
		return r, fmt.Errorf("KVM_GET_REGS: %w", err)
	}
	return r, nil
}

// SetRegs issues KVM_SET_REGS.
func (v *VCPU) SetRegs(r Regs) error {
	if _, err := ioctlPtr(v.fd, reqSetRegs, &r); err != nil {
		return fmt.Errorf("KVM_SET_REGS: %w", err)
	}
	return nil
}

// GetSregs issues KVM_GET_SREGS.
func (v *VCPU) GetSregs() (Sregs, error) {
	var s Sregs
	if _, err := ioctlPtr(v.fd, reqGetSregs, &s); err != nil {
		return s, fmt.Errorf("KVM_GET_SREGS: %w", err)
	}
	return s, nil
}

// SetSregs issues KVM_SET_SREGS. It returns ErrCPUIDNotSet, without the
// ioctl, until SetCPUID2 has succeeded on this vCPU.
func (v *VCPU) SetSregs(s Sregs) error {
	if !v.cpuidSet {
		return fmt.Errorf("KVM_SET_SREGS: %w", ErrCPUIDNotSet)
	}
	if _, err := ioctlPtr(v.fd, reqSetSregs, &s); err != nil {
		return fmt.Errorf("KVM_SET_SREGS: %w", err)
	}
	return nil
}

// GetFPU issues KVM_GET_FPU.
func (v *VCPU) GetFPU() (FPU, error) {
	var f FPU
	if _, err := ioctlPtr(v.fd, reqGetFPU, &f); err != nil {
		return f, fmt.Errorf("KVM_GET_FPU: %w", err)
	}
	return f, nil
}

// SetFPU issues KVM_SET_FPU.
func (v *VCPU) SetFPU(f FPU) error {
	if _, err := ioctlPtr(v.fd, reqSetFPU, &f); err != nil {
		return fmt.Errorf("KVM_SET_FPU: %w", err)
	}
	return nil
}

// GetMSRs issues KVM_GET_MSRS: it fills Data of each entry and returns how
// many were read; reading stops at the first MSR KVM refuses.
func (v *VCPU) GetMSRs(entries []MSREntry) (int, error) {
	return getMSRs(v.fd, entries, "KVM_GET_MSRS")
}

// SetMSRs issues KVM_SET_MSRS and returns how many entries were written;
// writing stops at the first MSR KVM refuses. It returns ErrCPUIDNotSet,
// without the ioctl, until SetCPUID2 has succeeded on this vCPU.
func (v *VCPU) SetMSRs(entries []MSREntry) (int, error) {
	if len(entries) == 0 {
		return 0, nil
	}
	if !v.cpuidSet {
		return 0, fmt.Errorf("KVM_SET_MSRS: %w", ErrCPUIDNotSet)
	}
	buf, err := encodeMSRs(entries)
	if err != nil {
		return 0, fmt.Errorf("KVM_SET_MSRS: %w", err)
	}
	n, err := ioctlBuf(v.fd, reqSetMSRs, buf)
	if err != nil {
		return 0, fmt.Errorf("KVM_SET_MSRS (%d MSRs, first %#x): %w", len(entries), entries[0].Index, err)
	}
	return int(n), nil
}

// SetCPUID2 issues KVM_SET_CPUID2: the CPUID table the guest sees. Call it
// right after CreateVCPU, before the setters KVM validates against it
// (SetSregs, SetMSRs) and before the first Run; KVM refuses a different
// table once the vCPU has run.
func (v *VCPU) SetCPUID2(entries []CPUIDEntry2) error {
	if len(entries) > maxCPUIDEntries {
		return fmt.Errorf("KVM_SET_CPUID2: %d entries: %w", len(entries), unix.E2BIG)
	}
	if _, err := ioctlBuf(v.fd, reqSetCPUID2, encodeCPUID2(entries)); err != nil {
		// A failed KVM_SET_CPUID2 may leave no valid table behind
		// (api.rst, KVM_SET_CPUID: "caveat emptor").
		v.cpuidSet = false
		return fmt.Errorf("KVM_SET_CPUID2 (%d entries): %w", len(entries), err)
	}
	v.cpuidSet = true
	return nil
}

// GetCPUID2 issues KVM_GET_CPUID2: the CPUID table set with SetCPUID2,
// growing the buffer while KVM answers E2BIG.
func (v *VCPU) GetCPUID2() ([]CPUIDEntry2, error) {
	for n := 64; ; n *= 2 {
		buf := encodeCPUID2(make([]CPUIDEntry2, n))
		_, err := ioctlBuf(v.fd, reqGetCPUID2, buf)
		if errors.Is(err, unix.E2BIG) && n < maxCPUIDEntries {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("KVM_GET_CPUID2 (%d entries): %w", n, err)
		}
		entries, err := decodeCPUID2(buf)
		if err != nil {
			return nil, fmt.Errorf("KVM_GET_CPUID2: %w", err)
		}
		return entries, nil
	}
}

// GetLAPIC issues KVM_GET_LAPIC.
func (v *VCPU) GetLAPIC() (LAPICState, error) {
	var l LAPICState
	if _, err := ioctlPtr(v.fd, reqGetLAPIC, &l); err != nil {
		return l, fmt.Errorf("KVM_GET_LAPIC: %w", err)
	}
	return l, nil
}

// SetLAPIC issues KVM_SET_LAPIC.
func (v *VCPU) SetLAPIC(l LAPICState) error {
	if _, err := ioctlPtr(v.fd, reqSetLAPIC, &l); err != nil {
		return fmt.Errorf("KVM_SET_LAPIC: %w", err)
	}
	return nil
}

// GetMPState issues KVM_GET_MP_STATE.
func (v *VCPU) GetMPState() (uint32, error) {
	var m MPState
	if _, err := ioctlPtr(v.fd, reqGetMPState, &m); err != nil {
		return 0, fmt.Errorf("KVM_GET_MP_STATE: %w", err)
	}
	return m.State, nil
}

// SetMPState issues KVM_SET_MP_STATE with one of the MPState* values.
func (v *VCPU) SetMPState(state uint32) error {
	m := MPState{State: state}
	if _, err := ioctlPtr(v.fd, reqSetMPState, &m); err != nil {
		return fmt.Errorf("KVM_SET_MP_STATE %d: %w", state, err)
	}
	return nil
}

// GetVCPUEvents issues KVM_GET_VCPU_EVENTS.
func (v *VCPU) GetVCPUEvents() (VCPUEvents, error) {
	var e VCPUEvents
	if _, err := ioctlPtr(v.fd, reqGetVCPUEvents, &e); err != nil {
		return e, fmt.Errorf("KVM_GET_VCPU_EVENTS: %w", err)
	}
	return e, nil
}

// SetVCPUEvents issues KVM_SET_VCPU_EVENTS.
func (v *VCPU) SetVCPUEvents(e VCPUEvents) error {
	if _, err := ioctlPtr(v.fd, reqSetVCPUEvents, &e); err != nil {
		return fmt.Errorf("KVM_SET_VCPU_EVENTS: %w", err)
	}
	return nil
}

// EnableCap issues KVM_ENABLE_CAP on the vCPU.
func (v *VCPU) EnableCap(c EnableCap) error {
	if _, err := ioctlPtr(v.fd, reqEnableCap, &c); err != nil {
		return fmt.Errorf("KVM_ENABLE_CAP %v (vcpu %d): %w", c.Cap, v.id, err)
	}
	return nil
}

// GetTSCKHz issues KVM_GET_TSC_KHZ: the guest TSC frequency.
func (v *VCPU) GetTSCKHz() (uint32, error) {
	r, err := ioctl(v.fd, reqGetTSCKHz, 0)
	if err != nil {
		return 0, fmt.Errorf("KVM_GET_TSC_KHZ: %w", err)
	}
	return uint32(r), nil
}

// SetSignalMask issues KVM_SET_SIGNAL_MASK: the signal mask in effect while
// the vCPU runs guest code. A nil mask means "the thread's own mask".
func (v *VCPU) SetSignalMask(mask *unix.Sigset_t) error {
	buf := make([]byte, sizeofSignalMask, sizeofSignalMask+8)
	if mask != nil {
		// The kernel's sigset is 8 bytes on x86-64; Sigset_t carries more words.
		le.PutUint32(buf, 8)
		buf = le.AppendUint64(buf, mask.Val[0])
	}
	var err error
	if mask == nil {
		_, err = ioctl(v.fd, reqSetSignalMask, 0)
	} else {
		_, err = ioctlBuf(v.fd, reqSetSignalMask, buf)
	}
	if err != nil {
		return fmt.Errorf("KVM_SET_SIGNAL_MASK: %w", err)
	}
	return nil
}

// StatsFD issues KVM_GET_STATS_FD on the vCPU and parses the statistics
// header and descriptors.
func (v *VCPU) StatsFD() (*Stats, error) {
	return statsFD(v.fd, fmt.Sprintf("vcpu %d", v.id))
}
