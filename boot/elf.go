package boot

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
)

// PVH: the Xen ELF note by which a kernel announces a 32-bit entry point
// that takes a struct hvm_start_info (xen/include/public/elfnote.h).
const (
	xenNoteName           = "Xen"
	xenElfnotePhys32Entry = 18 // XEN_ELFNOTE_PHYS32_ENTRY
	maxNoteBytes          = 1 << 20
	maxSegments           = 64
)

// LoadSegment is one PT_LOAD segment of an ELF kernel.
type LoadSegment struct {
	Offset   int64  // p_offset: where its bytes start in the file
	FileSize uint64 // p_filesz: bytes copied from the file
	MemSize  uint64 // p_memsz: bytes occupied in memory; the rest is zeroed
	Paddr    uint64 // p_paddr: guest physical load address
}

// ELFImage is a parsed, checked uncompressed x86-64 kernel (vmlinux).
type ELFImage struct {
	// Entry is the 64-bit entry point, e_entry, as a physical address.
	Entry uint64
	// PVHEntry is the 32-bit PVH entry point from XEN_ELFNOTE_PHYS32_ENTRY;
	// HasPVH says whether the note exists.
	PVHEntry uint64
	HasPVH   bool
	// Segments are the PT_LOAD segments with a non-zero p_memsz.
	Segments []LoadSegment
}

func elfErr(sentinel error, format string, args ...any) error {
	return &FormatError{Format: "ELF", Err: sentinel, Detail: fmt.Sprintf(format, args...)}
}

// ParseELF reads and checks an ELF vmlinux: ELFCLASS64, little-endian,
// EM_X86_64, an executable, PT_LOAD segments inside the file, an entry point
// inside a segment, and the PVH note if there is one.
func ParseELF(r io.ReaderAt, size int64) (*ELFImage, error) {
	if size <= 0 {
		return nil, &FormatError{Err: ErrEmpty, Detail: "file is empty; give a bzImage or an uncompressed vmlinux"}
	}
	var ident [20]byte
	if size < int64(len(ident)) {
		return nil, elfErr(ErrTruncated, "file is %d bytes, too short for an ELF header", size)
	}
	if _, err := r.ReadAt(ident[:], 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("read kernel ELF header: %w", err)
	}
	class := elf.Class(ident[elf.EI_CLASS])
	data := elf.Data(ident[elf.EI_DATA])
	var machine elf.Machine
	switch data {
	case elf.ELFDATA2LSB:
		machine = elf.Machine(binary.LittleEndian.Uint16(ident[18:]))
	case elf.ELFDATA2MSB:
		machine = elf.Machine(binary.BigEndian.Uint16(ident[18:]))
	}
	if class != elf.ELFCLASS64 || data != elf.ELFDATA2LSB || machine != elf.EM_X86_64 {
		return nil, elfErr(ErrNotX86_64, "%v %v %v is not an x86-64 kernel; need ELFCLASS64 ELFDATA2LSB EM_X86_64", class, data, machine)
	}
	f, err := elf.NewFile(io.NewSectionReader(r, 0, size))
	if err != nil {
		return nil, elfErr(ErrBadELF, "%v", err)
	}
	if f.Type != elf.ET_EXEC {
		return nil, elfErr(ErrBadELF, "type %v, not an executable (ET_EXEC)", f.Type)
	}
	img := &ELFImage{}
	for i, p := range f.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			if p.Memsz == 0 {
				continue
			}
			if len(img.Segments) == maxSegments {
				return nil, elfErr(ErrBadSegment, "more than %d PT_LOAD segments", maxSegments)
			}
			s, err := checkSegment(i, p, size)
			if err != nil {
				return nil, err
			}
			img.Segments = append(img.Segments, s)
		case elf.PT_NOTE:
			if img.HasPVH {
				continue
			}
			if err := img.readPVHNote(p.Open(), p.Filesz, fmt.Sprintf("PT_NOTE %d", i)); err != nil {
				return nil, err
			}
		}
	}
	if len(img.Segments) == 0 {
		return nil, elfErr(ErrBadSegment, "no PT_LOAD segment to load")
	}
	if !img.HasPVH {
		for _, s := range f.Sections {
			if s.Type != elf.SHT_NOTE || s.Size > uint64(size) {
				continue
			}
			if err := img.readPVHNote(s.Open(), s.Size, "section "+s.Name); err != nil {
				return nil, err
			}
			if img.HasPVH {
				break
			}
		}
	}
	entry, ok := img.physical(f.Entry, f.Progs)
	if !ok {
		return nil, elfErr(ErrBadEntry, "e_entry %#x lies in no PT_LOAD segment", f.Entry)
	}
	img.Entry = entry
	if img.HasPVH && !img.inSegment(img.PVHEntry) {
		return nil, elfErr(ErrBadEntry, "PVH entry %#x lies in no PT_LOAD segment", img.PVHEntry)
	}
	return img, nil
}

func checkSegment(i int, p *elf.Prog, size int64) (LoadSegment, error) {
	if p.Filesz > p.Memsz {
		return LoadSegment{}, elfErr(ErrBadSegment, "segment %d: p_filesz %#x exceeds p_memsz %#x", i, p.Filesz, p.Memsz)
	}
	if p.Off > uint64(size) || p.Filesz > uint64(size)-p.Off {
		return LoadSegment{}, elfErr(ErrTruncated, "segment %d: bytes [%#x, +%#x) lie beyond the end of the %d-byte file", i, p.Off, p.Filesz, size)
	}
	if p.Paddr+p.Memsz < p.Paddr {
		return LoadSegment{}, elfErr(ErrBadSegment, "segment %d: p_paddr %#x + p_memsz %#x overflows", i, p.Paddr, p.Memsz)
	}
	return LoadSegment{Offset: int64(p.Off), FileSize: p.Filesz, MemSize: p.Memsz, Paddr: p.Paddr}, nil
}

// physical maps e_entry to a physical address. vmlinux's e_entry is already
// physical (phys_startup_64); an entry given as a virtual address inside a
// segment is translated through that segment.
func (img *ELFImage) physical(entry uint64, progs []*elf.Prog) (uint64, bool) {
	if img.inSegment(entry) {
		return entry, true
	}
	for _, p := range progs {
		if p.Type == elf.PT_LOAD && entry >= p.Vaddr && entry-p.Vaddr < p.Memsz {
			return p.Paddr + (entry - p.Vaddr), true
		}
	}
	return 0, false
}

func (img *ELFImage) inSegment(addr uint64) bool {
	for _, s := range img.Segments {
		if addr >= s.Paddr && addr-s.Paddr < s.MemSize {
			return true
		}
	}
	return false
}

// readPVHNote scans one note area for XEN_ELFNOTE_PHYS32_ENTRY. Each note is
// namesz, descsz, type (4 bytes each), then name and desc, each padded to 4.
func (img *ELFImage) readPVHNote(r io.Reader, n uint64, where string) error {
	if n > maxNoteBytes {
		return elfErr(ErrBadELF, "%s: %d bytes of notes, more than %d", where, n, maxNoteBytes)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return elfErr(ErrTruncated, "%s: %v", where, err)
	}
	le := binary.LittleEndian
	align4 := func(v uint64) uint64 { return (v + 3) &^ 3 }
	for len(b) >= 12 {
		namesz, descsz, typ := uint64(le.Uint32(b)), uint64(le.Uint32(b[4:])), le.Uint32(b[8:])
		rest := uint64(len(b) - 12)
		if align4(namesz) > rest || align4(descsz) > rest-align4(namesz) {
			return elfErr(ErrBadELF, "%s: note of %d+%d bytes overruns its %d", where, namesz, descsz, n)
		}
		name := b[12 : 12+namesz]
		desc := b[12+align4(namesz) : 12+align4(namesz)+descsz]
		b = b[12+align4(namesz)+align4(descsz):]
		if typ != xenElfnotePhys32Entry || string(trimNUL(name)) != xenNoteName {
			continue
		}
		switch len(desc) {
		case 4:
			img.PVHEntry = uint64(le.Uint32(desc))
		case 8:
			img.PVHEntry = le.Uint64(desc)
		default:
			return elfErr(ErrBadELF, "%s: PVH entry note has %d bytes, want 4 or 8", where, len(desc))
		}
		if img.PVHEntry >= 1<<32 {
			return elfErr(ErrBadEntry, "PVH entry %#x is above 4 GiB; a 32-bit entry cannot reach it", img.PVHEntry)
		}
		img.HasPVH = true
		return nil
	}
	return nil
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}
