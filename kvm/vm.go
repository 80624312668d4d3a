package kvm

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// VM is a KVM virtual machine.
type VM struct {
	fd      int
	runSize int // KVM_GET_VCPU_MMAP_SIZE, for mapping each vCPU's kvm_run
}

// FD returns the file descriptor.
func (vm *VM) FD() int { return vm.fd }

// Close closes the VM fd. The kernel frees the VM when its vCPU fds are
// closed too.
func (vm *VM) Close() error {
	if vm.fd < 0 {
		return nil
	}
	err := unix.Close(vm.fd)
	vm.fd = -1
	if err != nil {
		return fmt.Errorf("close VM: %w", err)
	}
	return nil
}

// CheckExtension issues KVM_CHECK_EXTENSION on the VM fd, which answers for
// this VM's type (preferred over the system fd).
func (vm *VM) CheckExtension(c Cap) (int, error) {
	return checkExtension(vm.fd, c)
}

// EnableCap issues KVM_ENABLE_CAP on the VM (e.g. KVM_CAP_SPLIT_IRQCHIP).
func (vm *VM) EnableCap(c EnableCap) error {
	if _, err := ioctlPtr(vm.fd, reqEnableCap, &c); err != nil {
		return fmt.Errorf("KVM_ENABLE_CAP %v: %w", c.Cap, err)
	}
	return nil
}

// SetUserMemoryRegion issues KVM_SET_USER_MEMORY_REGION: slot maps size bytes
// of host memory at hostAddr to guest physical address gpa. size 0 deletes
// the slot. The host memory must stay mapped while the slot exists.
func (vm *VM) SetUserMemoryRegion(slot, flags uint32, gpa, size uint64, hostAddr uintptr) error {
	r := UserspaceMemoryRegion{
		Slot:          slot,
		Flags:         flags,
		GuestPhysAddr: gpa,
		MemorySize:    size,
		UserspaceAddr: uint64(hostAddr),
	}
	if _, err := ioctlPtr(vm.fd, reqSetUserMemoryRegion, &r); err != nil {
		return fmt.Errorf("KVM_SET_USER_MEMORY_REGION slot %d gpa %#x size %#x: %w", slot, gpa, size, err)
	}
	return nil
}

// SetTSSAddr issues KVM_SET_TSS_ADDR: three pages of guest physical address
// space, unused by the guest, that Intel VMX needs for real-mode emulation.
func (vm *VM) SetTSSAddr(gpa uint64) error {
	if _, err := ioctl(vm.fd, reqSetTSSAddr, uintptr(gpa)); err != nil {
		return fmt.Errorf("KVM_SET_TSS_ADDR %#x: %w", gpa, err)
	}
	return nil
}

// SetIdentityMapAddr issues KVM_SET_IDENTITY_MAP_ADDR: one page, unused by
// the guest, for the identity page table VMX uses in unpaged mode.
func (vm *VM) SetIdentityMapAddr(gpa uint64) error {
	if _, err := ioctlPtr(vm.fd, reqSetIdentityMapAddr, &gpa); err != nil {
		return fmt.Errorf("KVM_SET_IDENTITY_MAP_ADDR %#x: %w", gpa, err)
	}
	return nil
}

// CreateIRQChip issues KVM_CREATE_IRQCHIP: an in-kernel PIC pair, IOAPIC and
// a local APIC per vCPU. Call it before creating vCPUs.
func (vm *VM) CreateIRQChip() error {
	if _, err := ioctl(vm.fd, reqCreateIRQChip, 0); err != nil {
		return fmt.Errorf("KVM_CREATE_IRQCHIP: %w", err)
	}
	return nil
}

// CreatePIT2 issues KVM_CREATE_PIT2: an in-kernel i8254 timer. flags may be
// PITSpeakerDummy.
func (vm *VM) CreatePIT2(flags uint32) error {
	c := PITConfig{Flags: flags}
	if _, err := ioctlPtr(vm.fd, reqCreatePIT2, &c); err != nil {
		return fmt.Errorf("KVM_CREATE_PIT2: %w", err)
	}
	return nil
}

// IRQLine issues KVM_IRQ_LINE: it sets the level of an in-kernel irqchip
// input (a GSI).
func (vm *VM) IRQLine(gsi uint32, high bool) error {
	l := IRQLevel{IRQ: gsi, Level: boolToU32(high)}
	if _, err := ioctlPtr(vm.fd, reqIRQLine, &l); err != nil {
		return fmt.Errorf("KVM_IRQ_LINE gsi %d level %d: %w", gsi, l.Level, err)
	}
	return nil
}

// IRQLineStatus issues KVM_IRQ_LINE_STATUS: like IRQLine, and returns the
// delivery status (>0 delivered, 0 coalesced/masked, <0 error).
func (vm *VM) IRQLineStatus(gsi uint32, high bool) (int32, error) {
	l := IRQLevel{IRQ: gsi, Level: boolToU32(high)}
	if _, err := ioctlPtr(vm.fd, reqIRQLineStatus, &l); err != nil {
		return 0, fmt.Errorf("KVM_IRQ_LINE_STATUS gsi %d level %d: %w", gsi, l.Level, err)
	}
	return int32(l.IRQ), nil
}

// SignalMSI issues KVM_SIGNAL_MSI: it injects one message-signalled
// interrupt. It returns >0 when delivered, 0 when blocked by the guest.
func (vm *VM) SignalMSI(m MSI) (int, error) {
	r, err := ioctlPtr(vm.fd, reqSignalMSI, &m)
	if err != nil {
		return 0, fmt.Errorf("KVM_SIGNAL_MSI addr %#x data %#x: %w", uint64(m.AddressHi)<<32|uint64(m.AddressLo), m.Data, err)
	}
	return int(r), nil
}

// IRQFD issues KVM_IRQFD: writes to the eventfd raise the GSI (assign), or
// stop doing so (IRQFDFlagDeassign).
func (vm *VM) IRQFD(f IRQFD) error {
	if _, err := ioctlPtr(vm.fd, reqIRQFD, &f); err != nil {
		return fmt.Errorf("KVM_IRQFD fd %d gsi %d flags %#x: %w", f.FD, f.GSI, f.Flags, err)
	}
	return nil
}

// IOEventFD issues KVM_IOEVENTFD: guest writes to an MMIO address or port
// signal an eventfd in the kernel instead of exiting to userspace.
func (vm *VM) IOEventFD(e IOEventFD) error {
	if _, err := ioctlPtr(vm.fd, reqIOEventFD, &e); err != nil {
		return fmt.Errorf("KVM_IOEVENTFD addr %#x len %d flags %#x: %w", e.Addr, e.Len, e.Flags, err)
	}
	return nil
}

// GetClock issues KVM_GET_CLOCK.
func (vm *VM) GetClock() (ClockData, error) {
	var c ClockData
	if _, err := ioctlPtr(vm.fd, reqGetClock, &c); err != nil {
		return c, fmt.Errorf("KVM_GET_CLOCK: %w", err)
	}
	return c, nil
}

// SetClock issues KVM_SET_CLOCK.
func (vm *VM) SetClock(c ClockData) error {
	if _, err := ioctlPtr(vm.fd, reqSetClock, &c); err != nil {
		return fmt.Errorf("KVM_SET_CLOCK: %w", err)
	}
	return nil
}

// StatsFD issues KVM_GET_STATS_FD on the VM and parses the statistics
// header and descriptors.
func (vm *VM) StatsFD() (*Stats, error) {
	return statsFD(vm.fd, "VM")
}

// CreateVCPU issues KVM_CREATE_VCPU and maps the new vCPU's kvm_run page.
func (vm *VM) CreateVCPU(id int) (*VCPU, error) {
	r, err := ioctl(vm.fd, reqCreateVCPU, uintptr(id))
	if err != nil {
		return nil, fmt.Errorf("KVM_CREATE_VCPU %d: %w", id, err)
	}
	fd := int(r)
	mem, err := unix.Mmap(fd, 0, vm.runSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("mmap kvm_run of vcpu %d (%d bytes): %w", id, vm.runSize, err)
	}
	run, err := NewRun(mem)
	if err != nil {
		_ = unix.Munmap(mem)
		_ = unix.Close(fd)
		return nil, fmt.Errorf("vcpu %d: %w", id, err)
	}
	return &VCPU{fd: fd, id: id, run: run, runMem: mem}, nil
}

func boolToU32(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
