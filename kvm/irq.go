package kvm

import (
	"encoding/binary"
	"fmt"
)

// IRQ routing entry types (kvm_irq_routing_entry.type).
const (
	IRQRoutingIRQChip = 1 // KVM_IRQ_ROUTING_IRQCHIP: a pin of the in-kernel PIC or IOAPIC
	IRQRoutingMSI     = 2 // KVM_IRQ_ROUTING_MSI: a message-signalled interrupt
)

// In-kernel irqchips, the Chip of an IRQRoutingIRQChip entry.
const (
	IRQChipPICMaster = 0 // KVM_IRQCHIP_PIC_MASTER
	IRQChipPICSlave  = 1 // KVM_IRQCHIP_PIC_SLAVE
	IRQChipIOAPIC    = 2 // KVM_IRQCHIP_IOAPIC
)

// IRQRoutingEntry mirrors struct kvm_irq_routing_entry. U holds the union
// (irqchip or msi); build entries with NewIRQChipRoute and NewMSIRoute.
type IRQRoutingEntry struct {
	GSI   uint32
	Type  uint32 // IRQRoutingIRQChip or IRQRoutingMSI
	Flags uint32 // MSIValidDevID for MSI routes
	_     uint32
	U     [32]byte // union { irqchip; msi; adapter; hv_sint; xen_evtchn; pad[8] }
}

// irqRoutingHeader mirrors struct kvm_irq_routing without its entries.
type irqRoutingHeader struct {
	NR    uint32
	Flags uint32
}

// NewIRQChipRoute routes gsi to pin of an in-kernel irqchip (struct
// kvm_irq_routing_irqchip).
func NewIRQChipRoute(gsi, chip, pin uint32) IRQRoutingEntry {
	e := IRQRoutingEntry{GSI: gsi, Type: IRQRoutingIRQChip}
	le.PutUint32(e.U[0:], chip)
	le.PutUint32(e.U[4:], pin)
	return e
}

// NewMSIRoute routes gsi to an MSI message (struct kvm_irq_routing_msi).
func NewMSIRoute(gsi uint32, address uint64, data uint32) IRQRoutingEntry {
	e := IRQRoutingEntry{GSI: gsi, Type: IRQRoutingMSI}
	le.PutUint32(e.U[0:], uint32(address))
	le.PutUint32(e.U[4:], uint32(address>>32))
	le.PutUint32(e.U[8:], data)
	return e
}

// IRQChip returns the chip and pin of an IRQRoutingIRQChip entry.
func (e IRQRoutingEntry) IRQChip() (chip, pin uint32) {
	return le.Uint32(e.U[0:]), le.Uint32(e.U[4:])
}

// MSI returns the address and data of an IRQRoutingMSI entry.
func (e IRQRoutingEntry) MSI() (address uint64, data uint32) {
	return uint64(le.Uint32(e.U[4:]))<<32 | uint64(le.Uint32(e.U[0:])), le.Uint32(e.U[8:])
}

// maxGSIRoutes is KVM_MAX_IRQ_ROUTES.
const maxGSIRoutes = 4096

// encodeIRQRouting builds a struct kvm_irq_routing.
func encodeIRQRouting(entries []IRQRoutingEntry) ([]byte, error) {
	if len(entries) > maxGSIRoutes {
		return nil, fmt.Errorf("%d routes exceed KVM's limit of %d", len(entries), maxGSIRoutes)
	}
	buf := make([]byte, 0, int(sizeofIRQRouting)+len(entries)*int(sizeofIRQRoutingEntry))
	buf, err := binary.Append(buf, le, irqRoutingHeader{NR: uint32(len(entries))})
	if err == nil {
		buf, err = binary.Append(buf, le, entries)
	}
	return buf, err
}

// SetGSIRouting issues KVM_SET_GSI_ROUTING: it replaces the whole GSI
// routing table. With an in-kernel irqchip the table must keep the default
// irqchip routes (GSI 0-23 to the IOAPIC, 0-15 to the PICs) as well as any
// MSI routes added.
func (vm *VM) SetGSIRouting(entries []IRQRoutingEntry) error {
	buf, err := encodeIRQRouting(entries)
	if err != nil {
		return fmt.Errorf("KVM_SET_GSI_ROUTING: %w", err)
	}
	if _, err := ioctlBuf(vm.fd, reqSetGSIRouting, buf); err != nil {
		return fmt.Errorf("KVM_SET_GSI_ROUTING (%d routes): %w", len(entries), err)
	}
	return nil
}

// DefaultIRQChipRoutes returns the routing KVM_CREATE_IRQCHIP installs on
// x86 (default_routing in arch/x86/kvm/irq_comm.c): GSI 0-7 to the master
// PIC, 8-15 to the slave PIC, and GSI 0-23 to the IOAPIC pin of the same
// number. Extend it when adding MSI routes. (QEMU additionally routes GSI 0
// to IOAPIC pin 2 to match the MADT's IRQ0->GSI2 override; a board that
// declares that override must do the same.)
func DefaultIRQChipRoutes() []IRQRoutingEntry {
	var r []IRQRoutingEntry
	for gsi := uint32(0); gsi < 24; gsi++ {
		r = append(r, NewIRQChipRoute(gsi, IRQChipIOAPIC, gsi))
		switch {
		case gsi < 8:
			r = append(r, NewIRQChipRoute(gsi, IRQChipPICMaster, gsi))
		case gsi < 16:
			r = append(r, NewIRQChipRoute(gsi, IRQChipPICSlave, gsi-8))
		}
	}
	return r
}
