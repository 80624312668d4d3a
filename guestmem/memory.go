package guestmem

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
)

// ErrOutOfRange is wrapped by every error about an access outside guest RAM.
var ErrOutOfRange = errors.New("outside guest memory")

// Region is one contiguous piece of guest RAM.
type Region struct {
	// GPA is the guest physical address of Data[0].
	GPA uint64
	// Data is the host memory backing the region.
	Data []byte
}

// End returns the first guest physical address after the region.
func (r Region) End() uint64 { return r.GPA + uint64(len(r.Data)) }

// Memory is guest RAM: sorted, non-overlapping regions.
type Memory struct {
	regions []Region
	unmap   func() error
}

// New builds a Memory from regions. Regions must not overlap, be empty or
// extend past the end of the address space.
func New(regions ...Region) (*Memory, error) {
	rs := append([]Region(nil), regions...)
	sort.Slice(rs, func(i, j int) bool { return rs[i].GPA < rs[j].GPA })
	for i, r := range rs {
		if len(r.Data) == 0 {
			return nil, fmt.Errorf("guest memory region at %#x is empty", r.GPA)
		}
		if r.End() < r.GPA || (r.End() == 0 && r.GPA != 0) {
			return nil, fmt.Errorf("guest memory region at %#x+%#x overflows the address space", r.GPA, len(r.Data))
		}
		if i > 0 && rs[i-1].End() > r.GPA {
			return nil, fmt.Errorf("guest memory regions at %#x and %#x overlap", rs[i-1].GPA, r.GPA)
		}
	}
	return &Memory{regions: rs}, nil
}

// FromBytes returns a Memory with one region at gpa backed by b. Tests use it
// to build guest memory out of a plain byte slice.
func FromBytes(gpa uint64, b []byte) *Memory {
	m, err := New(Region{GPA: gpa, Data: b})
	if err != nil {
		panic(err) // only reachable with an empty slice, a programming error in a test
	}
	return m
}

// Regions returns the regions, sorted by address. The caller must not modify
// the returned slice.
func (m *Memory) Regions() []Region { return m.regions }

// Size returns the total bytes of RAM.
func (m *Memory) Size() uint64 {
	var n uint64
	for _, r := range m.regions {
		n += uint64(len(r.Data))
	}
	return n
}

// Close releases memory obtained from Map. It is a no-op for other Memory.
func (m *Memory) Close() error {
	if m.unmap == nil {
		return nil
	}
	err := m.unmap()
	m.unmap = nil
	m.regions = nil
	return err
}

// Slice returns the host bytes backing [addr, addr+n). The range must lie
// inside one region. The returned slice aliases guest memory.
func (m *Memory) Slice(addr, n uint64) ([]byte, error) {
	end := addr + n
	if end < addr {
		return nil, fmt.Errorf("guest range %#x+%#x overflows: %w", addr, n, ErrOutOfRange)
	}
	// First region whose end is beyond addr.
	i := sort.Search(len(m.regions), func(i int) bool { return m.regions[i].End() > addr })
	if i == len(m.regions) || m.regions[i].GPA > addr {
		if n == 0 && i > 0 && m.regions[i-1].End() == addr {
			r := m.regions[i-1]
			return r.Data[len(r.Data):], nil
		}
		return nil, fmt.Errorf("guest range %#x+%#x: %w", addr, n, ErrOutOfRange)
	}
	r := m.regions[i]
	if end > r.End() {
		return nil, fmt.Errorf("guest range %#x+%#x crosses the end of RAM at %#x: %w", addr, n, r.End(), ErrOutOfRange)
	}
	off := addr - r.GPA
	return r.Data[off : off+n : off+n], nil
}

// Contains reports whether [addr, addr+n) lies inside one region.
func (m *Memory) Contains(addr, n uint64) bool {
	_, err := m.Slice(addr, n)
	return err == nil
}

// ReadAt copies len(p) bytes of guest memory at guest physical address off
// into p. It implements io.ReaderAt; the range must lie inside one region.
func (m *Memory) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("guest read at negative address %d: %w", off, ErrOutOfRange)
	}
	b, err := m.Slice(uint64(off), uint64(len(p)))
	if err != nil {
		return 0, err
	}
	return copy(p, b), nil
}

// WriteAt copies p into guest memory at guest physical address off. It
// implements io.WriterAt; the range must lie inside one region.
func (m *Memory) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("guest write at negative address %d: %w", off, ErrOutOfRange)
	}
	b, err := m.Slice(uint64(off), uint64(len(p)))
	if err != nil {
		return 0, err
	}
	return copy(b, p), nil
}

// Uint16 reads a little-endian uint16 at addr.
func (m *Memory) Uint16(addr uint64) (uint16, error) {
	b, err := m.Slice(addr, 2)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint16(b), nil
}

// Uint32 reads a little-endian uint32 at addr.
func (m *Memory) Uint32(addr uint64) (uint32, error) {
	b, err := m.Slice(addr, 4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

// Uint64 reads a little-endian uint64 at addr.
func (m *Memory) Uint64(addr uint64) (uint64, error) {
	b, err := m.Slice(addr, 8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// PutUint16 writes a little-endian uint16 at addr.
func (m *Memory) PutUint16(addr uint64, v uint16) error {
	b, err := m.Slice(addr, 2)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint16(b, v)
	return nil
}

// PutUint32 writes a little-endian uint32 at addr.
func (m *Memory) PutUint32(addr uint64, v uint32) error {
	b, err := m.Slice(addr, 4)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(b, v)
	return nil
}

// PutUint64 writes a little-endian uint64 at addr.
func (m *Memory) PutUint64(addr uint64, v uint64) error {
	b, err := m.Slice(addr, 8)
	if err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(b, v)
	return nil
}

// Fill fills [addr, addr+n) of guest memory from r, reading exactly n
// bytes. A short source is an error (io.ErrUnexpectedEOF).
func (m *Memory) Fill(r io.Reader, addr, n uint64) error {
	b, err := m.Slice(addr, n)
	if err != nil {
		return err
	}
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}
