package acpi

import "fmt"

// dsdt returns the DSDT:
//
//	Scope (\_SB) {
//	    Device (PCI0) { _HID PNP0A03, _SEG, _BBN, _UID, _CRS, _PRT }
//	    Device (COM1) { _HID PNP0501, _UID, _CRS { IO, IRQNoFlags } }  // and the other ISA devices
//	    Device (C000) { _HID "ACPI0007", _UID 0 }                       // one per CPU
//	}
//	Name (\_S5, Package () { S5SleepType, 0, 0, 0 })
func dsdt(c *Config) ([]byte, error) {
	var e amlEncoder
	var sb [][]byte
	if c.PCI != nil {
		sb = append(sb, pciHost(&e, c.PCI))
	}
	for _, d := range c.ISA {
		var res [][]byte
		for _, p := range d.Ports {
			res = append(res, ioPort(p.Base, p.Base, 1, p.Size))
		}
		if d.IRQ >= 0 {
			res = append(res, irqNoFlags(uint8(d.IRQ)))
		}
		sb = append(sb, e.device(d.Name,
			e.name("_HID", e.eisaID(d.HID)),
			e.name("_UID", integer(uint64(d.UID))),
			e.name("_CRS", e.resourceTemplate(res...)),
		))
	}
	for i := range c.CPUs {
		sb = append(sb, e.device(fmt.Sprintf("C%03X", i),
			e.name("_HID", e.str("ACPI0007")),
			e.name("_UID", integer(uint64(i))),
		))
	}
	body := e.scope(`\_SB`, sb...)
	s5 := e.name(`\_S5`, e.pack(integer(uint64(c.S5SleepType)), integer(0), integer(0), integer(0)))
	body = append(body, s5...)
	if e.err != nil {
		return nil, fmt.Errorf("ACPI DSDT: %w", e.err)
	}
	return sdt("DSDT", dsdtRevision, body), nil
}

// pciHost returns Device (PCI0): the host bridge of segment p.Segment, bus
// p.Bus, consuming the configuration ports and forwarding its I/O and
// MMIO windows, with INTx routing when p.Routes is set.
func pciHost(e *amlEncoder, p *PCIHost) []byte {
	res := [][]byte{
		wordBusNumber(p.Bus, p.Bus),
		ioPort(p.ConfigPort, p.ConfigPort, 1, p.ConfigPortSize),
		wordIO(uint16(p.IO.Base), uint32(p.IO.Size)),
		dwordMemory(uint32(p.MMIO32.Base), uint32(p.MMIO32.Size)),
	}
	if p.MMIO64.Size > 0 {
		res = append(res, qwordMemory(p.MMIO64.Base, p.MMIO64.Size))
	}
	terms := [][]byte{
		e.name("_HID", e.eisaID("PNP0A03")),
		e.name("_SEG", integer(uint64(p.Segment))),
		e.name("_BBN", integer(uint64(p.Bus))),
		e.name("_UID", integer(uint64(p.Segment))),
		e.name("_CRS", e.resourceTemplate(res...)),
	}
	if len(p.Routes) > 0 {
		var prt [][]byte
		for _, r := range p.Routes {
			// Address: device in the high word, 0xFFFF = any function;
			// Source 0: the last element is a GSI, not a link device index.
			prt = append(prt, e.pack(integer(uint64(r.Slot)<<16|0xFFFF), integer(uint64(r.Pin)), integer(0), integer(uint64(r.GSI))))
		}
		terms = append(terms, e.name("_PRT", e.pack(prt...)))
	}
	return e.device("PCI0", terms...)
}
