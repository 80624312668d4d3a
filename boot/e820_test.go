package boot

import (
	"testing"

	"github.com/gonest/gonest/guestmem"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestE820(t *testing.T) {
	low := []E820Entry{
		{Addr: 0, Size: EBDAAddr, Type: E820RAM},
		{Addr: EBDAAddr, Size: 0x400, Type: E820Reserved},
		{Addr: ACPIAddr, Size: 0x20000, Type: E820ACPI},
	}
	kvm := E820Entry{Addr: 0xFFFB_C000, Size: 0x4000, Type: E820Reserved}
	ram := func(addr, end uint64) E820Entry { return E820Entry{Addr: addr, Size: end - addr, Type: E820RAM} }
	tests := []struct {
		name string
		size uint64
		want []E820Entry
	}{
		{"512M", 512 * mib, append(low[:3:3], ram(HighMemStart, 512*mib), kvm)},
		{"3G", 3 * gib, append(low[:3:3], ram(HighMemStart, 3*gib), kvm)},
		{"4G", 4 * gib, append(low[:3:3], ram(HighMemStart, 3*gib), kvm, ram(4*gib, 5*gib))},
		{"8G", 8 * gib, append(low[:3:3], ram(HighMemStart, 3*gib), kvm, ram(4*gib, 9*gib))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := RAMRanges(tt.size)
			require.NoError(t, err)
			got := E820(rs, true)
			assert.Equal(t, tt.want, got)
			var usable uint64
			for _, e := range got {
				if e.Type == E820RAM {
					usable += e.Size
				}
			}
			// Everything but the EBDA and the legacy hole [0x9FC00, 1 MiB) is usable.
			assert.Equal(t, tt.size-(HighMemStart-EBDAAddr), usable)
		})
	}
	t.Run("no ACPI tables: BIOS area reserved", func(t *testing.T) {
		got := E820([]guestmem.Range{{GPA: 0, Size: 64 * mib}}, false)
		require.Len(t, got, 5)
		assert.Equal(t, E820Entry{Addr: ACPIAddr, Size: 0x20000, Type: E820Reserved}, got[2])
	})
}
