package boot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func parse(b []byte) (*Kernel, error) { return ParseKernel(bytes.NewReader(b), int64(len(b))) }

func TestParseBzImageValid(t *testing.T) {
	k, err := parse(makeBzImage())
	require.NoError(t, err)
	require.Equal(t, FormatBzImage, k.Format)
	h := k.Setup
	assert.Equal(t, testSetupSects, h.SetupSects)
	assert.Equal(t, uint16(0x020F), h.Version)
	assert.Equal(t, "2.15", h.ProtocolString())
	assert.Equal(t, int64(1024), h.KernelOffset)
	assert.Equal(t, int64(testKernelLen), h.KernelSize)
	assert.Equal(t, uint64(testPref), h.PrefAddress)
	assert.Equal(t, uint32(testInitSize), h.InitSize)
	assert.Equal(t, uint32(2047), h.CmdlineSize)
	assert.Equal(t, uint32(0x7FFF_FFFF), h.InitrdAddrMax)
	assert.True(t, h.Relocatable)
	assert.Equal(t, uint16(XLFKernel64|XLFCanBeLoadedAbove4G), h.XLoadFlags)
	assert.Len(t, h.Raw, setupHeaderEnd-offSetupSects)
}

func TestParseBzImageDefaults(t *testing.T) {
	le := binary.LittleEndian
	// setup_sects 0 means 4; initrd_addr_max 0 means 0x37FFFFFF.
	b := makeBzImage(func(b []byte) { b[offSetupSects] = 0; le.PutUint32(b[offInitrdAddrMax:], 0) })
	b = append(b, make([]byte, 3*512)...) // 4 setup sectors now precede the code
	k, err := parse(b)
	require.NoError(t, err)
	assert.Equal(t, 4, k.Setup.SetupSects)
	assert.Equal(t, int64(5*512), k.Setup.KernelOffset)
	assert.Equal(t, uint32(DefaultInitrdAddrMax), k.Setup.InitrdAddrMax)
}

func TestParseKernelRejects(t *testing.T) {
	le := binary.LittleEndian
	garbage := bytes.Repeat([]byte("not a kernel "), 100)
	tests := []struct {
		name string
		file []byte
		want error
		msg  string // exact message, when given
	}{
		{"empty", nil, ErrEmpty, "kernel: file is empty; give a bzImage or an uncompressed vmlinux"},
		{"garbage", garbage, ErrUnknownFormat, ""},
		{"tiny", []byte{1, 2, 3}, ErrUnknownFormat, ""},
		{"bad boot flag", makeBzImage(func(b []byte) { le.PutUint16(b[offBootFlag:], 0x1234) }), ErrBootFlag,
			"kernel bzImage: boot_flag is 0x1234, not 0xaa55: not a Linux boot image"},
		{"no HdrS", makeBzImage(func(b []byte) { copy(b[offHeaderMagic:], "XXXX") }), ErrNoHeader, ""},
		{"protocol 2.04", makeBzImage(func(b []byte) { le.PutUint16(b[offVersion:], 0x0204) }), ErrProtocolTooOld,
			"kernel bzImage: protocol 2.04 is too old (need 2.06 or later)"},
		{"zImage", makeBzImage(func(b []byte) { b[offLoadFlags] = 0 }), ErrNotLoadedHigh, ""},
		{"32-bit only", makeBzImage(func(b []byte) { le.PutUint16(b[offXLoadFlags:], 0) }), ErrNot64Bit, ""},
		{"protocol 2.06 has no xloadflags", makeBzImage(func(b []byte) { le.PutUint16(b[offVersion:], 0x0206) }), ErrNot64Bit, ""},
		{"short header", makeBzImage(func(b []byte) { b[offJump+1] = 0x10 }), ErrBadHeader, ""},
		{"syssize zero", makeBzImage(func(b []byte) { le.PutUint32(b[offSysSize:], 0) }), ErrBadHeader, ""},
		{"alignment not power of two", makeBzImage(func(b []byte) { le.PutUint32(b[offKernelAlignment:], 3) }), ErrBadHeader, ""},
		{"init_size zero", makeBzImage(func(b []byte) { le.PutUint32(b[offInitSize:], 0) }), ErrBadHeader, ""},
		{"cmdline_size zero", makeBzImage(func(b []byte) { le.PutUint32(b[offCmdlineSize:], 0) }), ErrBadHeader, ""},
		{"truncated code", makeBzImage()[:2000], ErrTruncated, ""},
		{"truncated in setup", makeBzImage()[:0x300], ErrTruncated, ""},
		{"truncated in header", makeBzImage()[:0x240], ErrTruncated, ""},
		{"syssize beyond file", makeBzImage(func(b []byte) { le.PutUint32(b[offSysSize:], 1000) }), ErrTruncated, ""},
		{"ELF 32-bit", makeELF(1, 62, 0, nil), ErrNotX86_64, ""},
		{"ELF aarch64", makeELF(2, 183, 0, nil), ErrNotX86_64,
			"kernel ELF: ELFCLASS64 ELFDATA2LSB EM_AARCH64 is not an x86-64 kernel; need ELFCLASS64 ELFDATA2LSB EM_X86_64"},
		{"ELF short", []byte("\x7fELF\x02\x01\x01"), ErrTruncated, ""},
		{"ELF bad program headers", func() []byte {
			b := makeVmlinux(false)
			le.PutUint64(b[32:], 1<<40) // e_phoff far beyond the file
			return b
		}(), ErrBadELF, ""},
		{"ELF no segments", makeELF(2, 62, testELFPaddr, nil), ErrBadSegment, ""},
		{"ELF filesz > memsz", makeELF(2, 62, testELFPaddr, []elfProg{{typ: ptLoad, paddr: testELFPaddr, memsz: 4, data: make([]byte, 8)}}), ErrBadSegment, ""},
		{"ELF segment beyond file", func() []byte {
			b := makeVmlinux(false)
			le.PutUint64(b[64+8:], 1<<20) // p_offset of the first program header
			return b
		}(), ErrTruncated, ""},
		{"ELF entry outside", makeELF(2, 62, 0x5000_0000, []elfProg{{typ: ptLoad, paddr: testELFPaddr, memsz: 16, data: make([]byte, 16)}}), ErrBadEntry, ""},
		{"ELF PVH entry outside", makeELF(2, 62, testELFPaddr, []elfProg{
			{typ: ptLoad, paddr: testELFPaddr, memsz: 16, data: make([]byte, 16)},
			{typ: ptNote, data: pvhNote(0x10)},
		}), ErrBadEntry, ""},
		{"ELF note overruns", makeELF(2, 62, testELFPaddr, []elfProg{
			{typ: ptLoad, paddr: testELFPaddr, memsz: 16, data: make([]byte, 16)},
			{typ: ptNote, data: pvhNote(testELFPaddr)[:30]},
		}), ErrBadELF, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(tt.file)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.want)
			var fe *FormatError
			assert.True(t, errors.As(err, &fe), "want a *FormatError, got %T", err)
			if tt.msg != "" {
				assert.Equal(t, tt.msg, err.Error())
			}
		})
	}
}

func TestParseELF(t *testing.T) {
	tests := []struct {
		name     string
		file     []byte
		format   KernelFormat
		entry    uint64
		pvhEntry uint64
	}{
		{"64-bit entry", makeVmlinux(false), FormatELF, testELFPaddr, 0},
		{"PVH", makeVmlinux(true), FormatPVH, testELFPaddr, testELFPaddr + 0x40},
		{"virtual e_entry translated", makeELF(2, 62, testELFVaddr+0x10, []elfProg{
			{typ: ptLoad, paddr: testELFPaddr, vaddr: testELFVaddr, memsz: 0x100, data: make([]byte, 0x100)},
		}), FormatELF, testELFPaddr + 0x10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := parse(tt.file)
			require.NoError(t, err)
			assert.Equal(t, tt.format, k.Format)
			assert.Equal(t, tt.entry, k.ELF.Entry)
			assert.Equal(t, tt.pvhEntry, k.ELF.PVHEntry)
			require.Len(t, k.ELF.Segments, 1)
			assert.Equal(t, uint64(testELFPaddr), k.ELF.Segments[0].Paddr)
		})
	}
}
