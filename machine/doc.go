// Package machine is the board: it wires gonest's parts into a PC that
// Linux boots.
//
// New opens /dev/kvm and builds the VM in the order KVM requires: the TSS
// and identity-map pages, the in-kernel irqchip (PIC, IOAPIC, LAPICs) and
// PIT, guest RAM as memory slots, the devices on the port-I/O and MMIO
// buses, the ACPI tables and the kernel (package boot), and finally the
// vCPUs with their CPUID (package vcpu's policy), MSRs, LAPIC LINT pins
// and, for the boot CPU, the entry registers. Every address comes from
// boot/layout.go; this package only connects things.
//
// Run starts one goroutine per vCPU (each locked to its OS thread by
// package vcpu) and waits for the first thing that ends the VM: the guest
// powering off or resetting, a write to the exit device, a fatal exit,
// -timeout, or Stop (signals, Ctrl-A X). The first reason wins; every vCPU
// is then kicked out of KVM_RUN, disks are flushed, and Run returns an
// Outcome whose Code is the process exit status.
package machine
