package acpi

import "fmt"

// tableAlign is the alignment of each table in the blob.
const tableAlign = 16

// Tables is the ACPI blob and where each table in it lives.
type Tables struct {
	// Data is the blob, to be written at Base; the RSDP is at its start.
	Data []byte
	Base uint64
	// Guest physical addresses of the tables.
	RSDP, XSDT, FADT, MADT, DSDT uint64
}

// Build lays out RSDP, XSDT, FADT, MADT and DSDT, in that order, each
// 16-byte aligned, for the blob to be written at cfg.Base. The RSDP's
// 16-byte alignment is what the legacy 0xE0000 scan needs.
func Build(cfg Config) (*Tables, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Base%tableAlign != 0 {
		return nil, fmt.Errorf("ACPI: base %#x is not 16-byte aligned", cfg.Base)
	}
	dsdtTable, err := dsdt(&cfg)
	if err != nil {
		return nil, err
	}
	madtTable := madt(&cfg)

	t := &Tables{Base: cfg.Base, RSDP: cfg.Base}
	off := uint64(0)
	next := func(size int) uint64 {
		a := off
		off = (off + uint64(size) + tableAlign - 1) &^ (tableAlign - 1)
		return cfg.Base + a
	}
	next(rsdpSize)
	t.XSDT = next(headerSize + 2*8)
	t.FADT = next(fadtSize)
	t.MADT = next(len(madtTable))
	t.DSDT = next(len(dsdtTable))

	t.Data = make([]byte, t.DSDT-cfg.Base+uint64(len(dsdtTable)))
	place := func(addr uint64, b []byte) { copy(t.Data[addr-cfg.Base:], b) }
	place(t.RSDP, rsdp(t.XSDT))
	place(t.XSDT, xsdt(t.FADT, t.MADT))
	place(t.FADT, fadt(&cfg, t.DSDT))
	place(t.MADT, madtTable)
	place(t.DSDT, dsdtTable)
	return t, nil
}
