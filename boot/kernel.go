package boot

import (
	"bytes"
	"fmt"
	"io"
)

// KernelFormat says how a kernel file is laid out and entered.
type KernelFormat int

// Kernel formats.
const (
	FormatBzImage KernelFormat = iota + 1 // bzImage, 64-bit entry at load address + 0x200
	FormatELF                             // ELF vmlinux, 64-bit entry at e_entry with a zero page
	FormatPVH                             // ELF vmlinux with a PVH note, 32-bit entry with hvm_start_info
)

// String names the format as messages and -stats print it.
func (f KernelFormat) String() string {
	switch f {
	case FormatBzImage:
		return "bzImage"
	case FormatELF:
		return "ELF (64-bit entry)"
	case FormatPVH:
		return "ELF (PVH entry)"
	}
	return fmt.Sprintf("KernelFormat(%d)", int(f))
}

// Kernel is a parsed, checked kernel file.
type Kernel struct {
	Format KernelFormat
	// Setup is the bzImage setup header (FormatBzImage only).
	Setup *SetupHeader
	// ELF is the parsed vmlinux (FormatELF and FormatPVH).
	ELF *ELFImage
}

var elfMagic = []byte("\x7fELF")

// ParseKernel recognises a bzImage or an ELF vmlinux and checks it. An ELF
// file with a PVH note is entered through PVH; one without, at e_entry in
// 64-bit mode.
func ParseKernel(r io.ReaderAt, size int64) (*Kernel, error) {
	if size <= 0 {
		return nil, &FormatError{Err: ErrEmpty, Detail: "file is empty; give a bzImage or an uncompressed vmlinux"}
	}
	var head [offHeaderMagic + 4]byte
	n, err := r.ReadAt(head[:min(size, int64(len(head)))], 0)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read kernel header: %w", err)
	}
	b := head[:n]
	switch {
	case bytes.HasPrefix(b, elfMagic):
		img, err := ParseELF(r, size)
		if err != nil {
			return nil, err
		}
		k := &Kernel{Format: FormatELF, ELF: img}
		if img.HasPVH {
			k.Format = FormatPVH
		}
		return k, nil
	case len(b) >= offBootFlag+2 && b[offBootFlag] == 0x55 && b[offBootFlag+1] == 0xAA,
		len(b) >= offHeaderMagic+4 && string(b[offHeaderMagic:]) == "HdrS":
		h, err := ParseBzImage(r, size)
		if err != nil {
			return nil, err
		}
		return &Kernel{Format: FormatBzImage, Setup: h}, nil
	}
	return nil, &FormatError{Err: ErrUnknownFormat,
		Detail: "neither a bzImage (no boot signature or \"HdrS\" at 0x1fe/0x202) nor an ELF vmlinux; check the -kernel path"}
}
