// Package kvm is a thin, typed layer over the Linux KVM ioctl interface.
//
// # Handles
//
// KVM hands out three kinds of file descriptor, and this package wraps each
// in a handle holding nothing but the fd:
//
//   - System is /dev/kvm itself. It answers questions about the host (API
//     version, capabilities, the CPUID and MSRs KVM can offer a guest) and
//     creates VMs.
//   - VM is one virtual machine. It owns guest memory slots, the in-kernel
//     interrupt controllers and timer, interrupt routing, irqfds and
//     ioeventfds, and creates vCPUs.
//   - VCPU is one virtual processor. It owns registers, MSRs, CPUID, the
//     local APIC, and the kvm_run page through which every exit to
//     userspace is reported.
//
// # The ioctl model
//
// Every KVM operation is an ioctl on one of those fds. The request number
// encodes a direction (none, read, write or both), the size of the argument
// struct, the KVM "magic" 0xAE and a command number, exactly as the C macros
// _IO, _IOR, _IOW and _IOWR do (see ioctl.go). Each method here issues one
// ioctl and is named after it: VM.SetUserMemoryRegion is
// KVM_SET_USER_MEMORY_REGION, VCPU.GetSregs is KVM_GET_SREGS. Argument structs
// mirror <linux/kvm.h> field for field, with explicit padding, so their Go
// size equals the C size and the computed request numbers equal the
// kernel's; a table test checks both against literal values.
//
// Variable-length arguments (struct kvm_msrs, kvm_cpuid2, kvm_msr_list,
// kvm_irq_routing) are encoded into byte buffers with encoding/binary.
// Fixed-size structs are passed by pointer. The only code that turns a Go
// pointer into an ioctl argument, and the only code that reads the mmapped
// kvm_run page through a struct overlay, lives in *_unsafe.go files.
//
// # Errors
//
// Every error names the ioctl and wraps the errno, so
// errors.Is(err, unix.EINTR) works through it:
//
//	KVM_CREATE_VCPU 0: cannot allocate memory
//
// # kvm_run
//
// VCPU.Run issues KVM_RUN. When it returns, the reason and details of the
// exit are in the vCPU's kvm_run page, which VCPU.RunPage exposes as a *Run
// with typed accessors (ExitReason, IO, MMIO, FailEntry, Internal,
// SystemEvent, ...) and SetImmediateExit, the one field another goroutine
// may write.
// Package vcpu turns those into typed exits and dispatches them to devices.
//
// # Nested state
//
// VCPU.GetNestedState returns KVM_GET_NESTED_STATE parsed: flags (guest
// mode, GIF), the VMX or SVM header, and the data, which SVMData decodes
// as vmcb12's control area plus G1's save area and VMXData as vmcs12.
// Every offset and length is checked, so a truncated or hostile blob
// gives an error, never a panic (FuzzNestedStateDecode).
//
// This package imports only golang.org/x/sys/unix and the standard library;
// it knows nothing about guest memory, devices or boards.
package kvm
