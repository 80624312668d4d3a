// Package pci emulates a conventional PCI bus 0 the way a guest kernel
// discovers it: through configuration mechanism #1.
//
// The guest writes an address (enable bit, bus, device, function, register)
// to port 0xCF8 and then reads or writes 1, 2 or 4 bytes at 0xCFC-0xCFF.
// ConfigIO is that pair of registers; the board inserts it on the port I/O
// bus at 0xCF8 with size 8. Bus routes each access to the Config of the
// addressed function. A slot with nothing in it reads as all ones (vendor
// 0xFFFF), which is how Linux's enumeration learns that it is empty.
//
// Config is one function's 256 bytes: a type 0 header whose every byte has
// a write mask (read-only, read-write, or write-1-to-clear for the STATUS
// error bits), memory and I/O BARs, and a capability list (MSI-X, virtio's
// vendor capabilities). A capability with side effects supplies a
// CapabilityHandler. A function may also declare plain device-specific
// registers after the header (SetDeviceRegisters: reset values and write
// masks), as a chipset function has; capabilities then follow them.
//
// BARs follow the specification's sizing dance: writing all ones and
// reading back gives ~(size-1) plus the read-only type bits. When the bus
// accepts a function it places every BAR at a naturally aligned address,
// as firmware would: a memory BAR in the PCI MMIO window, an I/O BAR (4 to
// 256 bytes; the IDE controller's channels) in the PCI I/O window
// (Allocator). Decoding stays off until the guest sets Memory Space or I/O
// Space in COMMAND; COMMAND.IO is writable only in a function that has an
// I/O BAR. From then on, any change to COMMAND or a BAR moves the BAR's
// device on the board's MMIO or port I/O bus (AddressSpace: Remove at the
// old base, Insert at the new one) and tells the function (BARObserver), so
// that virtio can move its KVM ioeventfds. A BAR outside its window, or on
// top of another device, is not decoded.
//
// Device 0 is the host bridge, class 0x0600, id 8086:0D57: the synthetic id
// other VMMs use, which no Linux driver claims (see regs.go).
//
// MSIX emulates the MSI-X capability and its table and pending bits. The
// board delivers messages through MSIRouter: a route per vector, set up on
// the rare table writes, and Fire on the hot path, which with KVM_IRQFD is a
// single eventfd write.
//
// Nothing here touches KVM; tests drive ConfigIO and Config directly.
package pci
