package boot

import (
	"encoding/binary"

	"github.com/gonest/gonest/guestmem"
)

// Synthetic kernels for tests: a bzImage whose header is a modern 64-bit
// Linux's, and ELF files built byte by byte (debug/elf cannot write).

const (
	testSetupSects = 1
	testKernelLen  = 4096
	testPref       = 0x100_0000
	testInitSize   = 0x80_0000
)

// makeBzImage returns a valid bzImage: protocol 2.15, relocatable, 64-bit,
// pref_address 16 MiB, init_size 8 MiB, 4 KiB of protected-mode code
// filled with 0xC3 and a marker at its start. mods edit the bytes.
func makeBzImage(mods ...func(b []byte)) []byte {
	off := (testSetupSects + 1) * 512
	b := make([]byte, off+testKernelLen)
	le := binary.LittleEndian
	b[offSetupSects] = testSetupSects
	le.PutUint32(b[offSysSize:], testKernelLen/16)
	le.PutUint16(b[offVidMode:], 0xFFFF)
	le.PutUint16(b[offBootFlag:], bootFlagMagic)
	b[offJump], b[offJump+1] = 0xEB, setupHeaderEnd-offJump-2
	copy(b[offHeaderMagic:], "HdrS")
	le.PutUint16(b[offVersion:], 0x020F)
	b[offLoadFlags] = LoadedHigh
	le.PutUint32(b[offCode32Start:], 0x100000)
	le.PutUint32(b[offInitrdAddrMax:], 0x7FFF_FFFF)
	le.PutUint32(b[offKernelAlignment:], 0x20_0000)
	b[offRelocatable] = 1
	le.PutUint16(b[offXLoadFlags:], XLFKernel64|XLFCanBeLoadedAbove4G)
	le.PutUint32(b[offCmdlineSize:], 2047)
	le.PutUint64(b[offPrefAddress:], testPref)
	le.PutUint32(b[offInitSize:], testInitSize)
	for i := off; i < len(b); i++ {
		b[i] = 0xC3
	}
	copy(b[off:], "KERNEL64")
	for _, m := range mods {
		m(b)
	}
	return b
}

type elfProg struct {
	typ          uint32
	paddr, vaddr uint64
	memsz        uint64
	data         []byte
}

const (
	ptLoad = 1
	ptNote = 4
)

// makeELF returns an ELF64 executable with the given program headers; each
// prog's data is placed in the file after the headers.
func makeELF(class byte, machine uint16, entry uint64, progs []elfProg) []byte {
	const ehsize, phsize = 64, 56
	le := binary.LittleEndian
	dataOff := ehsize + phsize*len(progs)
	size := dataOff
	for _, p := range progs {
		size += (len(p.data) + 7) &^ 7
	}
	b := make([]byte, size)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = class, 1, 1 // class, ELFDATA2LSB, EV_CURRENT
	le.PutUint16(b[16:], 2)        // ET_EXEC
	le.PutUint16(b[18:], machine)
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[24:], entry)
	le.PutUint64(b[32:], ehsize)
	le.PutUint16(b[52:], ehsize)
	le.PutUint16(b[54:], phsize)
	le.PutUint16(b[56:], uint16(len(progs)))
	le.PutUint16(b[58:], 64)
	off := dataOff
	for i, p := range progs {
		ph := b[ehsize+i*phsize:]
		le.PutUint32(ph[0:], p.typ)
		le.PutUint32(ph[4:], 5) // PF_R | PF_X
		le.PutUint64(ph[8:], uint64(off))
		le.PutUint64(ph[16:], p.vaddr)
		le.PutUint64(ph[24:], p.paddr)
		le.PutUint64(ph[32:], uint64(len(p.data)))
		le.PutUint64(ph[40:], p.memsz)
		le.PutUint64(ph[48:], 8)
		copy(b[off:], p.data)
		off += (len(p.data) + 7) &^ 7
	}
	return b
}

// pvhNote returns a note area holding XEN_ELFNOTE_PHYS32_ENTRY, after an
// unrelated GNU note so the parser must walk past one.
func pvhNote(entry uint32) []byte {
	le := binary.LittleEndian
	var b []byte
	note := func(name string, typ uint32, desc []byte) {
		h := make([]byte, 12)
		le.PutUint32(h[0:], uint32(len(name)+1))
		le.PutUint32(h[4:], uint32(len(desc)))
		le.PutUint32(h[8:], typ)
		n := append([]byte(name), 0)
		for len(n)%4 != 0 {
			n = append(n, 0)
		}
		d := append([]byte(nil), desc...)
		for len(d)%4 != 0 {
			d = append(d, 0)
		}
		b = append(append(append(b, h...), n...), d...)
	}
	note("GNU", 3, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	e := make([]byte, 4)
	le.PutUint32(e, entry)
	note("Xen", xenElfnotePhys32Entry, e)
	return b
}

const (
	testELFPaddr = 0x100_0000
	testELFVaddr = 0xFFFF_FFFF_8100_0000
)

// makeVmlinux returns an x86-64 vmlinux-like ELF: one segment at 16 MiB
// (0x200 bytes in the file, 0x3000 in memory), entry at its start, and a
// PVH note when pvh.
func makeVmlinux(pvh bool) []byte {
	code := make([]byte, 0x200)
	copy(code, "VMLINUX!")
	progs := []elfProg{{typ: ptLoad, paddr: testELFPaddr, vaddr: testELFVaddr, memsz: 0x3000, data: code}}
	if pvh {
		progs = append(progs, elfProg{typ: ptNote, data: pvhNote(testELFPaddr + 0x40)})
	}
	return makeELF(2, 62, testELFPaddr, progs)
}

// testMem returns size bytes of guest RAM laid out as RAMRanges would,
// limited to the low range (tests stay below 3 GiB).
func testMem(size uint64) *guestmem.Memory {
	return guestmem.FromBytes(0, make([]byte, size))
}
