package ide

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices/disk"
)

// memDisk is a Backend in memory whose sector s holds byte s+1, with
// failures to inject. An access outside the data is recorded: the drive
// must never make one.
type memDisk struct {
	mu        sync.Mutex
	data      []byte
	ro        bool
	serial    string
	failRead  error
	failWrite error
	failSync  error
	reads     int
	writes    int
	syncs     int
	closed    bool
	outside   []string // accesses outside the image
}

func newMemDisk(sectors int) *memDisk {
	m := &memDisk{data: make([]byte, sectors*SectorSize)}
	for i := range m.data {
		m.data[i] = byte(i/SectorSize + 1)
	}
	return m
}

func (m *memDisk) Sectors() uint64 { return uint64(len(m.data) / SectorSize) }
func (m *memDisk) ReadOnly() bool  { return m.ro }
func (m *memDisk) Serial() [disk.SerialBytes]byte {
	var s [disk.SerialBytes]byte
	copy(s[:], m.serial)
	return s
}

func (m *memDisk) check(op string, p []byte, off int64) error {
	if off < 0 || off%SectorSize != 0 || len(p)%SectorSize != 0 || off+int64(len(p)) > int64(len(m.data)) {
		m.outside = append(m.outside, fmt.Sprintf("%s %d bytes at %d", op, len(p), off))
		return errors.New("outside the image")
	}
	return nil
}

func (m *memDisk) ReadAt(p []byte, off int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("read", p, off); err != nil {
		return err
	}
	m.reads++
	if m.failRead != nil {
		return m.failRead
	}
	copy(p, m.data[off:])
	return nil
}

func (m *memDisk) WriteAt(p []byte, off int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check("write", p, off); err != nil {
		return err
	}
	if m.ro {
		m.outside = append(m.outside, "write to a read-only disk")
		return errors.New("read-only")
	}
	m.writes++
	if m.failWrite != nil {
		return m.failWrite
	}
	copy(m.data[off:], p)
	return nil
}

func (m *memDisk) Sync() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.syncs++
	return m.failSync
}

func (m *memDisk) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func (m *memDisk) sector(s int) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.data[s*SectorSize:(s+1)*SectorSize]...)
}

// hugeDisk is a Backend far larger than memory: sector s reads as its
// 8-byte LBA repeated, and writes are kept per sector. It takes LBA48
// addresses past 2^28 and 2^32.
type hugeDisk struct {
	sectors uint64
	written map[uint64][]byte
}

func (h *hugeDisk) Sectors() uint64                { return h.sectors }
func (h *hugeDisk) ReadOnly() bool                 { return false }
func (h *hugeDisk) Serial() [disk.SerialBytes]byte { return [disk.SerialBytes]byte{'h', 'u', 'g', 'e'} }
func (h *hugeDisk) Sync() error                    { return nil }
func (h *hugeDisk) Close() error                   { return nil }

func (h *hugeDisk) ReadAt(p []byte, off int64) error {
	for i := 0; i < len(p); i += SectorSize {
		s := uint64(off)/SectorSize + uint64(i/SectorSize)
		if s >= h.sectors {
			return errors.New("outside the image")
		}
		if w, ok := h.written[s]; ok {
			copy(p[i:], w)
			continue
		}
		for j := 0; j < SectorSize; j += 8 {
			binary.LittleEndian.PutUint64(p[i+j:], s)
		}
	}
	return nil
}

func (h *hugeDisk) WriteAt(p []byte, off int64) error {
	for i := 0; i < len(p); i += SectorSize {
		s := uint64(off)/SectorSize + uint64(i/SectorSize)
		if s >= h.sectors {
			return errors.New("outside the image")
		}
		h.written[s] = append([]byte(nil), p[i:i+SectorSize]...)
	}
	return nil
}

// lineRecorder is an INTA# line that keeps the levels driven.
type lineRecorder struct {
	mu     sync.Mutex
	levels []bool
}

func (l *lineRecorder) SetLevel(high bool) {
	l.mu.Lock()
	l.levels = append(l.levels, high)
	l.mu.Unlock()
}

// high reports the last level driven.
func (l *lineRecorder) high() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.levels) > 0 && l.levels[len(l.levels)-1]
}

// port is one channel's two register blocks seen as I/O ports.
type port struct {
	t    *testing.T
	ch   *Channel
	line *lineRecorder
}

func (p port) inb(off uint64) byte {
	b := []byte{0}
	p.ch.cmd.Read(off, b)
	return b[0]
}

func (p port) outb(off uint64, v byte) { p.ch.cmd.Write(off, []byte{v}) }

func (p port) inw() uint16 {
	b := make([]byte, 2)
	p.ch.cmd.Read(regData, b)
	return binary.LittleEndian.Uint16(b)
}

func (p port) outw(v uint16) {
	b := make([]byte, 2)
	binary.LittleEndian.PutUint16(b, v)
	p.ch.cmd.Write(regData, b)
}

// insl reads n bytes with 32-bit accesses, as ata_piix's
// ata_sff_data_xfer32 does.
func (p port) insl(n int) []byte {
	out := make([]byte, n)
	for i := 0; i < n; i += 4 {
		p.ch.cmd.Read(regData, out[i:i+4])
	}
	return out
}

// outsl writes b with 32-bit accesses.
func (p port) outsl(b []byte) {
	for i := 0; i < len(b); i += 4 {
		p.ch.cmd.Write(regData, b[i:i+4])
	}
}

func (p port) altStatus() byte {
	b := []byte{0}
	p.ch.ctl.Read(regAltStatus, b)
	return b[0]
}

func (p port) devctl(v byte) { p.ch.ctl.Write(regDevControl, []byte{v}) }

// newController builds a controller over drives with a line recorder.
func newController(t *testing.T, drives ...Backend) (*Controller, *lineRecorder) {
	t.Helper()
	line := &lineRecorder{}
	ctl, err := New(Config{Drives: drives, INTx: line})
	require.NoError(t, err)
	t.Cleanup(func() { ctl.Close() })
	return ctl, line
}

// primary returns the primary channel's ports of a controller with drives.
func primary(t *testing.T, drives ...Backend) port {
	t.Helper()
	ctl, line := newController(t, drives...)
	return port{t: t, ch: ctl.Channel(0), line: line}
}

// sectorOf is a sector filled with b.
func sectorOf(b byte) []byte {
	s := make([]byte, SectorSize)
	for i := range s {
		s[i] = b
	}
	return s
}
