// Package boot puts a Linux kernel into guest memory and says how to start
// it. It is pure: it reads files through io.ReaderAt, writes guest RAM only
// through *guestmem.Memory, and never touches KVM. The board turns the
// returned CPUState into kvm.Regs and kvm.Sregs.
//
// # Where things go
//
// layout.go is the single list of guest addresses, I/O ports and interrupt
// pins, each with the reason for its value. RAM is [0, 3 GiB) plus, for
// bigger guests, [4 GiB, ...); the gigabyte below 4 GiB is the MMIO hole
// with the PCI window, the IOAPIC, the LAPIC and KVM's private pages. Below
// 1 MiB gonest writes the GDT, the zero page, the page tables, the command
// line and the ACPI tables; the kernel and the initrd live above.
//
// # Two ways in
//
// A bzImage (what distributions ship as vmlinuz) is entered the way the x86
// boot protocol (Documentation/arch/x86/boot.rst) describes for 64-bit boot
// loaders: gonest checks the setup header ("HdrS", protocol 2.06 or later,
// LOADED_HIGH, XLF_KERNEL_64), loads the protected-mode code, fills struct
// boot_params (the zero page) with the command line, the initrd and the
// e820 memory map, builds page tables identity-mapping 4 GiB, and starts
// the vCPU in long mode at the load address + 0x200 with RSI pointing at
// the zero page. The real-mode setup code never runs.
//
// An uncompressed ELF vmlinux is loaded segment by segment at the physical
// addresses its program headers give. If it carries the Xen PVH note
// (XEN_ELFNOTE_PHYS32_ENTRY, which Linux has with CONFIG_PVH), gonest
// enters it through PVH: 32-bit protected mode, paging off, EBX pointing at
// struct hvm_start_info. Without the note it enters at e_entry in long mode
// with a zero page, as Firecracker does.
//
// # Errors
//
// Every problem with the kernel file is a *FormatError wrapping a sentinel
// (ErrProtocolTooOld, ErrNot64Bit, ...), printed as one line such as
// "kernel bzImage: protocol 2.04 is too old (need 2.06 or later)". Problems
// of placement (too little memory, an initrd that cannot fit) wrap their
// own sentinels and say which -m would work.
package boot
