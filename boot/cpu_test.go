package boot

import (
	"encoding/binary"
	"testing"

	"github.com/gonest/gonest/guestmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// walk translates a virtual address through 4-level page tables the way
// the MMU does, stopping at 2 MiB pages. ok is false for a non-present
// entry.
func walk(t *testing.T, mem *guestmem.Memory, cr3, va uint64) (pa uint64, ok bool) {
	t.Helper()
	const addrMask = 0x000F_FFFF_FFFF_F000
	table := cr3 & addrMask
	for level, shift := range []uint{39, 30, 21} {
		e, err := mem.Uint64(table + (va>>shift&0x1FF)*8)
		require.NoError(t, err)
		if e&PTEPresent == 0 {
			return 0, false
		}
		assert.NotZero(t, e&PTEWritable, "level %d entry for %#x not writable", level, va)
		if shift == 21 {
			require.NotZero(t, e&PTEPageSize, "PD entry for %#x is not a 2 MiB page", va)
			return e&addrMask&^(1<<21-1) | va&(1<<21-1), true
		}
		assert.Zero(t, e&PTEPageSize, "level %d entry for %#x has PS set", level, va)
		table = e & addrMask
	}
	panic("unreachable")
}

func TestPageTablesIdentityMap4GiB(t *testing.T) {
	mem := testMem(HighMemStart)
	c, err := setupLongMode(mem, 0x1234, ZeroPageAddr)
	require.NoError(t, err)
	for _, va := range []uint64{0, 0x1000, ZeroPageAddr, 0x1FFFFF, 0x200000, HighMemStart, testPref + 0x200,
		0x4000_0000, 0xBFFF_FFFF, PCIMMIO32Start, IOAPICAddr, LAPICAddr + 0x30, 0xFFFF_FFFF} {
		pa, ok := walk(t, mem, c.CR3, va)
		require.True(t, ok, "%#x not mapped", va)
		assert.Equal(t, va, pa)
	}
	_, ok := walk(t, mem, c.CR3, 1<<32)
	assert.False(t, ok, "4 GiB and above must stay unmapped")
}

func TestGDTDescriptors(t *testing.T) {
	tests := []struct {
		name                string
		long                bool
		code, data, tss     uint64
		cr0, cr4, efer, cr3 uint64
	}{
		// The classic flat descriptors every 64-bit loader writes.
		{"long mode", true, 0x00AF_9B00_0000_FFFF, 0x00CF_9300_0000_FFFF, 0x0000_8B00_0000_0067,
			CR0PE | CR0ET | CR0PG, CR4PAE, EFERLME | EFERLMA, PML4Addr},
		{"PVH", false, 0x00CF_9B00_0000_FFFF, 0x00CF_9300_0000_FFFF, 0x0000_8B00_0000_0067,
			CR0PE | CR0ET, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := entryState(tt.long)
			g := GDT(&c)
			le := binary.LittleEndian
			assert.Equal(t, uint64(0), le.Uint64(g[0:]))
			assert.Equal(t, uint64(0), le.Uint64(g[8:]))
			assert.Equal(t, tt.code, le.Uint64(g[SelectorCode:]))
			assert.Equal(t, tt.data, le.Uint64(g[SelectorData:]))
			assert.Equal(t, tt.tss, le.Uint64(g[SelectorTSS:]))
			assert.Equal(t, uint64(0), le.Uint64(g[SelectorTSS+8:]))
			assert.Equal(t, uint16(len(g)-1), c.GDT.Limit)
			assert.Equal(t, tt.cr0, c.CR0)
			assert.Equal(t, tt.cr4, c.CR4)
			assert.Equal(t, tt.efer, c.EFER)
			assert.Equal(t, tt.cr3, c.CR3)
			assert.Equal(t, tt.long, c.Mode64())
			assert.Equal(t, uint64(RFLAGSReserved), c.RFLAGS, "interrupts must be off")
			for _, s := range []Segment{c.DS, c.ES, c.FS, c.GS, c.SS} {
				assert.Equal(t, c.DS, s)
			}
			assert.Equal(t, uint16(SelectorCode), c.CS.Selector)
			assert.Equal(t, uint16(SelectorData), c.SS.Selector)
			assert.Equal(t, uint32(0xFFFF_FFFF), c.CS.Limit)
			assert.True(t, c.LDT.Unusable)
		})
	}
}
