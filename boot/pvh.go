package boot

import (
	"encoding/binary"
	"fmt"
)

// struct hvm_start_info and friends (xen/include/public/arch-x86/hvm/start_info.h).
const (
	// PVHMagic is hvm_start_info.magic.
	PVHMagic = 0x336EC578
	// PVHVersion is the structure version gonest writes: 1, which adds the
	// memory map.
	PVHVersion = 1
	// pvhStartInfoSize is sizeof(struct hvm_start_info), version 1.
	pvhStartInfoSize = 56
	// pvhModlistEntrySize is sizeof(struct hvm_modlist_entry).
	pvhModlistEntrySize = 32
	// pvhMemmapEntrySize is sizeof(struct hvm_memmap_table_entry).
	pvhMemmapEntrySize = 24
)

// PVHParams are what a loader tells a PVH kernel.
type PVHParams struct {
	CmdlineAddr uint64
	InitrdAddr  uint64
	InitrdSize  uint64 // 0: no module
	RSDPAddr    uint64
	E820        []E820Entry
}

// BuildPVH returns the bytes to write at PVHStartInfoAddr: hvm_start_info,
// the module list (PVHModlistAddr) and the memory map (PVHMemmapAddr), all
// in one block.
func BuildPVH(p PVHParams) ([]byte, error) {
	b := make([]byte, PVHMemmapAddr-PVHStartInfoAddr+MaxE820Entries*pvhMemmapEntrySize)
	le := binary.LittleEndian
	le.PutUint32(b[0:], PVHMagic)
	le.PutUint32(b[4:], PVHVersion)
	// flags (8) stay 0.
	if p.InitrdSize > 0 {
		le.PutUint32(b[12:], 1) // nr_modules
		le.PutUint64(b[16:], PVHModlistAddr)
		m := b[PVHModlistAddr-PVHStartInfoAddr:]
		le.PutUint64(m[0:], p.InitrdAddr) // paddr
		le.PutUint64(m[8:], p.InitrdSize) // size
		// cmdline_paddr and reserved stay 0.
	}
	le.PutUint64(b[24:], p.CmdlineAddr)
	le.PutUint64(b[32:], p.RSDPAddr)
	le.PutUint64(b[40:], PVHMemmapAddr)
	le.PutUint32(b[48:], uint32(len(p.E820)))
	if err := encodeE820(b[PVHMemmapAddr-PVHStartInfoAddr:], p.E820, pvhMemmapEntrySize); err != nil {
		return nil, fmt.Errorf("PVH memory map: %w", err)
	}
	return b, nil
}
