package boot

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/gonest/gonest/guestmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func load(t *testing.T, mem *guestmem.Memory, kernel, initrd []byte, cmdline string, opts Options) (*Loaded, error) {
	t.Helper()
	var r *bytes.Reader
	if initrd != nil {
		r = bytes.NewReader(initrd)
	}
	if r == nil {
		return Load(mem, bytes.NewReader(kernel), int64(len(kernel)), nil, 0, cmdline, opts)
	}
	return Load(mem, bytes.NewReader(kernel), int64(len(kernel)), r, int64(len(initrd)), cmdline, opts)
}

func TestLoadBzImage(t *testing.T) {
	mem := testMem(64 * mib)
	initrd := bytes.Repeat([]byte("initrd!!"), 1000) // 8000 bytes
	acpi := []byte("RSD PTR tables")
	ld, err := load(t, mem, makeBzImage(), initrd, "console=ttyS0", Options{ACPI: acpi})
	require.NoError(t, err)

	// Relocatable and it fits: loaded at pref_address, inside its own buffer.
	assert.Equal(t, []Span{{Addr: testPref, Size: testInitSize}}, ld.Kernel)
	code, err := mem.Slice(testPref, 8)
	require.NoError(t, err)
	assert.Equal(t, "KERNEL64", string(code))
	assert.Equal(t, uint64(testPref+Entry64Offset), ld.CPU.RIP)
	assert.Equal(t, uint64(ZeroPageAddr), ld.CPU.RSI)
	assert.Equal(t, uint64(BootStackTop), ld.CPU.RSP)
	assert.True(t, ld.CPU.Mode64())

	// Initrd at the top of RAM, page aligned.
	assert.Equal(t, Span{Addr: (64*mib - 8000) &^ (PageSize - 1), Size: 8000}, ld.Initrd)
	got := make([]byte, 8000)
	_, err = mem.ReadAt(got, int64(ld.Initrd.Addr))
	require.NoError(t, err)
	assert.Equal(t, initrd, got)

	// Command line and ACPI tables.
	cl, err := mem.Slice(CmdlineAddr, 14)
	require.NoError(t, err)
	assert.Equal(t, "console=ttyS0\x00", string(cl))
	assert.Equal(t, Span{Addr: CmdlineAddr, Size: 14}, ld.Cmdline)
	at, err := mem.Slice(ACPIAddr, uint64(len(acpi)))
	require.NoError(t, err)
	assert.Equal(t, acpi, at)
	assert.Equal(t, Span{Addr: ACPIAddr, Size: uint64(len(acpi))}, ld.ACPI)

	// Zero page fields at their offsets in boot_params.
	zp, err := mem.Slice(ZeroPageAddr, ZeroPageSize)
	require.NoError(t, err)
	le := binary.LittleEndian
	fields := []struct {
		name string
		off  int
		size int
		want uint64
	}{
		{"acpi_rsdp_addr", 0x070, 8, ACPIAddr},
		{"ext_ramdisk_image", 0x0C0, 4, 0},
		{"ext_ramdisk_size", 0x0C4, 4, 0},
		{"ext_cmd_line_ptr", 0x0C8, 4, 0},
		{"e820_entries", 0x1E8, 1, uint64(len(ld.E820))},
		{"setup_sects", 0x1F1, 1, testSetupSects},
		{"vid_mode", 0x1FA, 2, 0xFFFF},
		{"boot_flag", 0x1FE, 2, 0xAA55},
		{"header", 0x202, 4, 0x53726448},
		{"version", 0x206, 2, 0x020F},
		{"type_of_loader", 0x210, 1, 0xFF},
		{"loadflags", 0x211, 1, LoadedHigh | CanUseHeap},
		{"ramdisk_image", 0x218, 4, ld.Initrd.Addr},
		{"ramdisk_size", 0x21C, 4, 8000},
		{"heap_end_ptr", 0x224, 2, 0xFE00},
		{"cmd_line_ptr", 0x228, 4, CmdlineAddr},
		{"cmdline_size", 0x238, 4, 2047},
		{"pref_address", 0x258, 8, testPref},
		{"init_size", 0x260, 4, testInitSize},
		{"e820_table[0].size", 0x2D0 + 8, 8, EBDAAddr},
		{"e820_table[3].addr", 0x2D0 + 3*20, 8, HighMemStart},
		{"e820_table[3].type", 0x2D0 + 3*20 + 16, 4, E820RAM},
	}
	for _, f := range fields {
		var v uint64
		switch f.size {
		case 1:
			v = uint64(zp[f.off])
		case 2:
			v = uint64(le.Uint16(zp[f.off:]))
		case 4:
			v = uint64(le.Uint32(zp[f.off:]))
		case 8:
			v = le.Uint64(zp[f.off:])
		}
		assert.Equal(t, f.want, v, f.name)
	}
	assert.Equal(t, byte(0), zp[0x1EF], "sentinel must stay 0")
}

func TestBuildZeroPageHighAddresses(t *testing.T) {
	zp, err := BuildZeroPage(nil, ZeroPageParams{CmdlineAddr: 0x1_2345_6000, InitrdAddr: 0x2_0000_1000, InitrdSize: 0x1_0000_0002})
	require.NoError(t, err)
	le := binary.LittleEndian
	assert.Equal(t, uint32(0x2345_6000), le.Uint32(zp[0x228:]))
	assert.Equal(t, uint32(1), le.Uint32(zp[0x0C8:]))
	assert.Equal(t, uint32(0x1000), le.Uint32(zp[0x218:]))
	assert.Equal(t, uint32(2), le.Uint32(zp[0x0C0:]))
	assert.Equal(t, uint32(2), le.Uint32(zp[0x21C:]))
	assert.Equal(t, uint32(1), le.Uint32(zp[0x0C4:]))
	// The synthesised header of an ELF kernel.
	assert.Equal(t, uint16(0xAA55), le.Uint16(zp[0x1FE:]))
	assert.Equal(t, "HdrS", string(zp[0x202:0x206]))
	assert.Equal(t, byte(LoadedHigh|CanUseHeap), zp[0x211])

	_, err = BuildZeroPage(nil, ZeroPageParams{E820: make([]E820Entry, MaxE820Entries+1)})
	assert.Error(t, err)
}

func TestLoadNonRelocatableAt1MiB(t *testing.T) {
	mem := testMem(64 * mib)
	ld, err := load(t, mem, makeBzImage(func(b []byte) { b[offRelocatable] = 0 }), nil, "", Options{})
	require.NoError(t, err)
	// Loaded at 1 MiB, decompresses at pref_address: both are the kernel's.
	assert.Equal(t, []Span{{Addr: HighMemStart, Size: testKernelLen}, {Addr: testPref, Size: testInitSize}}, ld.Kernel)
	assert.Equal(t, uint64(HighMemStart+Entry64Offset), ld.CPU.RIP)
	assert.Equal(t, Span{}, ld.Initrd)
	assert.Equal(t, Span{}, ld.ACPI)
	zp, err := mem.Uint64(ZeroPageAddr + offACPIRSDPAddr)
	require.NoError(t, err)
	assert.Zero(t, zp)
}

func TestLoadPlacementErrors(t *testing.T) {
	le := binary.LittleEndian
	lowAddrMax := func(b []byte) { le.PutUint32(b[offInitrdAddrMax:], 0x1FF_FFFF) } // 32 MiB
	tests := []struct {
		name    string
		mem     uint64
		kernel  []byte
		initrd  int
		cmdline string
		want    error
		msg     string
	}{
		{"kernel does not fit", 20 * mib, makeBzImage(), 0, "", ErrMemoryTooSmall, "use -m 24M or more"},
		{"no first MiB", 512 * 1024, makeBzImage(), 0, "", ErrMemoryTooSmall, "first MiB"},
		{"initrd overlaps kernel", 64 * mib, makeBzImage(), 50 * mib, "", ErrInitrdOverlap, "use -m 74M or more"},
		{"initrd beyond initrd_addr_max", 64 * mib, makeBzImage(lowAddrMax), 16 * mib, "", ErrInitrdTooLarge, "at most 8 MiB fit"},
		{"initrd larger than 3 GiB limit", 64 * mib, makeBzImage(), 3 * gib, "", ErrInitrdTooLarge, ""},
		{"cmdline too long", 64 * mib, makeBzImage(func(b []byte) { le.PutUint32(b[offCmdlineSize:], 8) }), 0,
			"console=ttyS0", ErrCmdlineTooLong, "13 bytes, this kernel accepts at most 8"},
		{"cmdline with NUL", 64 * mib, makeBzImage(), 0, "a\x00b", ErrBadCmdline, ""},
		{"ELF segment below 1 MiB", 64 * mib, makeELF(2, 62, 0x8000, []elfProg{{typ: ptLoad, paddr: 0x8000, memsz: 16, data: make([]byte, 16)}}), 0, "", ErrKernelOverlap, ""},
		{"ELF segment beyond RAM", 8 * mib, makeVmlinux(true), 0, "", ErrMemoryTooSmall, ""},
		{"ELF segment in MMIO hole", 64 * mib, makeELF(2, 62, 0xD000_0000, []elfProg{{typ: ptLoad, paddr: 0xD000_0000, memsz: 16, data: make([]byte, 16)}}), 0, "", ErrKernelOverlap, ""},
		{"ELF segments overlap", 64 * mib, makeELF(2, 62, testELFPaddr, []elfProg{
			{typ: ptLoad, paddr: testELFPaddr, memsz: 0x2000, data: make([]byte, 16)},
			{typ: ptLoad, paddr: testELFPaddr + 0x1000, memsz: 16, data: make([]byte, 16)},
		}), 0, "", ErrKernelOverlap, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := testMem(tt.mem)
			var initrd []byte
			if tt.initrd > 0 && tt.initrd < 256*mib {
				initrd = make([]byte, tt.initrd)
			}
			var err error
			if tt.initrd >= 256*mib { // a size only: the reader is never reached
				k := tt.kernel
				_, err = Load(mem, bytes.NewReader(k), int64(len(k)), bytes.NewReader(nil), int64(tt.initrd), tt.cmdline, Options{})
			} else {
				_, err = load(t, mem, tt.kernel, initrd, tt.cmdline, Options{})
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.want)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestLoadInitrdBelowAddrMax(t *testing.T) {
	le := binary.LittleEndian
	mem := testMem(64 * mib)
	k := makeBzImage(func(b []byte) { le.PutUint32(b[offInitrdAddrMax:], 0x1FF_FFFF) })
	ld, err := load(t, mem, k, make([]byte, 5000), "", Options{})
	require.NoError(t, err)
	assert.Equal(t, Span{Addr: 32*mib - 2*PageSize, Size: 5000}, ld.Initrd)
	assert.LessOrEqual(t, ld.Initrd.End(), uint64(32*mib))
	assert.GreaterOrEqual(t, ld.Initrd.Addr, ld.Kernel[0].End())
}

func TestLoadACPITooLarge(t *testing.T) {
	_, err := load(t, testMem(64*mib), makeBzImage(), nil, "", Options{ACPI: make([]byte, ACPIMaxSize+1)})
	assert.ErrorIs(t, err, ErrACPITooLarge)
}

func TestCmdline(t *testing.T) {
	assert.Equal(t, DefaultCmdline, Cmdline(""))
	assert.Equal(t, DefaultCmdline, Cmdline("  "))
	assert.Equal(t, DefaultCmdline+" init=/bin/sh quiet", Cmdline(" init=/bin/sh quiet "))
	assert.True(t, strings.HasPrefix(DefaultCmdline, "console=ttyS0 "))
	assert.NoError(t, checkCmdline(strings.Repeat("x", 2047), 2047))
	assert.ErrorIs(t, checkCmdline(strings.Repeat("x", 2048), 2047), ErrCmdlineTooLong)
}

func TestLoadELF(t *testing.T) {
	tests := []struct {
		name   string
		pvh    bool
		format KernelFormat
		rip    uint64
	}{
		{"PVH", true, FormatPVH, testELFPaddr + 0x40},
		{"64-bit", false, FormatELF, testELFPaddr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := make([]byte, 64*mib)
			for i := range raw[testELFPaddr : testELFPaddr+0x4000] {
				raw[testELFPaddr+i] = 0xAA // the segment's BSS must be cleared
			}
			mem := guestmem.FromBytes(0, raw)
			ld, err := load(t, mem, makeVmlinux(tt.pvh), make([]byte, 3000), "root=/dev/vda", Options{ACPI: []byte("RSD PTR ")})
			require.NoError(t, err)
			assert.Equal(t, tt.format, ld.Format)
			assert.Equal(t, tt.rip, ld.CPU.RIP)
			assert.Equal(t, []Span{{Addr: testELFPaddr, Size: 0x3000}}, ld.Kernel)
			assert.Equal(t, "VMLINUX!", string(raw[testELFPaddr:testELFPaddr+8]))
			assert.Equal(t, make([]byte, 0x3000-0x200), raw[testELFPaddr+0x200:testELFPaddr+0x3000], "BSS not cleared")
			assert.Equal(t, byte(0xAA), raw[testELFPaddr+0x3000], "wrote past the segment")
			assert.Equal(t, Span{Addr: 64*mib - PageSize, Size: 3000}, ld.Initrd)

			le := binary.LittleEndian
			if !tt.pvh {
				assert.True(t, ld.CPU.Mode64())
				assert.Equal(t, uint64(ZeroPageAddr), ld.CPU.RSI)
				assert.Equal(t, "HdrS", string(raw[ZeroPageAddr+0x202:ZeroPageAddr+0x206]))
				assert.Equal(t, uint32(CmdlineAddr), le.Uint32(raw[ZeroPageAddr+0x228:]))
				return
			}
			assert.False(t, ld.CPU.Mode64())
			assert.Equal(t, uint64(PVHStartInfoAddr), ld.CPU.RBX)
			assert.Equal(t, uint64(CR0PE|CR0ET), ld.CPU.CR0)
			assert.False(t, ld.CPU.CS.L)
			assert.True(t, ld.CPU.CS.DB)
			si := raw[PVHStartInfoAddr:]
			assert.Equal(t, uint32(PVHMagic), le.Uint32(si[0:]), "magic")
			assert.Equal(t, uint32(1), le.Uint32(si[4:]), "version")
			assert.Equal(t, uint32(1), le.Uint32(si[12:]), "nr_modules")
			assert.Equal(t, uint64(PVHModlistAddr), le.Uint64(si[16:]), "modlist_paddr")
			assert.Equal(t, uint64(CmdlineAddr), le.Uint64(si[24:]), "cmdline_paddr")
			assert.Equal(t, uint64(ACPIAddr), le.Uint64(si[32:]), "rsdp_paddr")
			assert.Equal(t, uint64(PVHMemmapAddr), le.Uint64(si[40:]), "memmap_paddr")
			assert.Equal(t, uint32(len(ld.E820)), le.Uint32(si[48:]), "memmap_entries")
			mod := raw[PVHModlistAddr:]
			assert.Equal(t, ld.Initrd.Addr, le.Uint64(mod[0:]))
			assert.Equal(t, uint64(3000), le.Uint64(mod[8:]))
			mm := raw[PVHMemmapAddr:]
			for i, e := range ld.E820 {
				o := mm[i*24:]
				assert.Equal(t, e, E820Entry{Addr: le.Uint64(o), Size: le.Uint64(o[8:]), Type: le.Uint32(o[16:])})
			}
			assert.Equal(t, "root=/dev/vda\x00", string(raw[CmdlineAddr:CmdlineAddr+14]))
		})
	}
}

func TestZeroPageRSDPNeedsProtocol214(t *testing.T) {
	for _, tt := range []struct {
		version uint16
		want    uint64
	}{{0x020D, 0}, {0x020E, ACPIAddr}, {0x020F, ACPIAddr}} {
		k, err := parse(makeBzImage(func(b []byte) { binary.LittleEndian.PutUint16(b[offVersion:], tt.version) }))
		require.NoError(t, err)
		zp, err := BuildZeroPage(k.Setup, ZeroPageParams{RSDPAddr: ACPIAddr})
		require.NoError(t, err)
		assert.Equal(t, tt.want, binary.LittleEndian.Uint64(zp[0x70:]), "protocol %#x", tt.version)
	}
}
