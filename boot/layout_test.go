package boot

import (
	"testing"

	"github.com/gonest/gonest/guestmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const gib = 1 << 30

func TestRAMRanges(t *testing.T) {
	tests := []struct {
		size uint64
		want []guestmem.Range
	}{
		{512 * mib, []guestmem.Range{{GPA: 0, Size: 512 * mib}}},
		{3 * gib, []guestmem.Range{{GPA: 0, Size: 3 * gib}}},
		{4 * gib, []guestmem.Range{{GPA: 0, Size: 3 * gib}, {GPA: 4 * gib, Size: 1 * gib}}},
		{8 * gib, []guestmem.Range{{GPA: 0, Size: 3 * gib}, {GPA: 4 * gib, Size: 5 * gib}}},
	}
	for _, tt := range tests {
		got, err := RAMRanges(tt.size)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got, "size %#x", tt.size)
	}
	for _, bad := range []uint64{0, 4095, MaxMemSize + PageSize} {
		_, err := RAMRanges(bad)
		assert.Error(t, err, "size %#x", bad)
	}
}

// TestLayoutDisjoint checks that the low-memory structures, the MMIO areas
// and the I/O port blocks do not overlap one another.
func TestLayoutDisjoint(t *testing.T) {
	type area struct {
		name       string
		start, end uint64
	}
	check := func(t *testing.T, areas []area) {
		for i, a := range areas {
			assert.Less(t, a.start, a.end, a.name)
			for _, b := range areas[i+1:] {
				assert.False(t, a.start < b.end && b.start < a.end, "%s [%#x,%#x) overlaps %s [%#x,%#x)",
					a.name, a.start, a.end, b.name, b.start, b.end)
			}
		}
	}
	t.Run("low memory", func(t *testing.T) {
		check(t, []area{
			{"IVT/BDA", 0, RealModeIVTEnd},
			{"GDT", GDTAddr, GDTAddr + GDTMaxSize},
			{"IDT", IDTAddr, IDTAddr + 8},
			{"PVH start info", PVHStartInfoAddr, PVHStartInfoAddr + pvhStartInfoSize},
			{"PVH modlist", PVHModlistAddr, PVHModlistAddr + pvhModlistEntrySize},
			{"PVH memmap", PVHMemmapAddr, PVHMemmapAddr + MaxE820Entries*pvhMemmapEntrySize},
			{"zero page", ZeroPageAddr, ZeroPageAddr + ZeroPageSize},
			{"stack", ZeroPageAddr + ZeroPageSize, BootStackTop + 0x10},
			{"page tables", PML4Addr, PageTablesEnd},
			{"cmdline", CmdlineAddr, CmdlineAddr + CmdlineMaxSize},
			{"EBDA", EBDAAddr, LegacyHoleStart},
			{"VGA/ROM hole", LegacyHoleStart, ACPIAddr},
			{"ACPI", ACPIAddr, ACPIAddr + ACPIMaxSize},
			{"kernel", HighMemStart, LowRAMMax},
		})
	})
	t.Run("MMIO hole", func(t *testing.T) {
		check(t, []area{
			{"PCI MMIO", PCIMMIO32Start, PCIMMIO32Start + PCIMMIO32Size},
			{"IOAPIC", IOAPICAddr, IOAPICAddr + IOAPICSize},
			{"LAPIC", LAPICAddr, LAPICAddr + LAPICSize},
			{"KVM identity map", KVMIdentityMapAddr, KVMIdentityMapAddr + PageSize},
			{"KVM TSS", KVMTSSAddr, KVMTSSAddr + KVMTSSSize},
		})
		assert.GreaterOrEqual(t, uint64(PCIMMIO32Start), uint64(MMIOHoleStart))
		assert.LessOrEqual(t, uint64(KVMTSSAddr+KVMTSSSize), uint64(HighRAMStart))
	})
	t.Run("I/O ports", func(t *testing.T) {
		check(t, []area{
			{"i8042 data", I8042DataPort, I8042DataPort + 1},
			{"i8042 command", I8042CommandPort, I8042CommandPort + 1},
			{"CMOS", CMOSPort, CMOSPort + CMOSPortSize},
			{"POST", POSTPort, POSTPort + 1},
			{"exit", ExitPort, ExitPort + ExitPortSize},
			{"marker", MarkerPort, MarkerPort + MarkerPortSize},
			{"COM1", COM1Port, COM1Port + COM1PortSize},
			{"ACPI PM", ACPIPMPort, ACPIPMPort + ACPIPMPortSize},
			{"PCI config", PCIConfigPort, PCIConfigPort + PCIConfigPortSize},
			{"PCI I/O window", PCIIOStart, PCIIOStart + PCIIOSize},
		})
		assert.Less(t, ACPIResetPort, ACPIPMPort+ACPIPMPortSize)
	})
	t.Run("IOAPIC pins", func(t *testing.T) {
		pins := []int{COM1IRQ, CMOSIRQ, I8042IRQ, SCIIRQ, PCIIntxGSIA, PCIIntxGSIB}
		seen := map[int]bool{}
		for _, p := range pins {
			assert.Less(t, p, IOAPICPins)
			assert.False(t, seen[p], "pin %d used twice", p)
			seen[p] = true
		}
	})
}
