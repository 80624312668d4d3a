package exitdev

import (
	"sync"
	"time"
)

// MarkerSize is the number of ports the timing marker decodes.
const MarkerSize = 1

// MaxMarks bounds how many marks a Marker keeps, so a guest writing in a
// loop cannot grow the VMM's memory. Later marks still reach OnMark.
const MaxMarks = 256

// Mark is one boot milestone: the byte the guest wrote and when.
type Mark struct {
	ID uint8
	At time.Time
}

// MarkerConfig is what the board gives a Marker.
type MarkerConfig struct {
	// OnMark, if set, is called for every mark on the vCPU thread.
	OnMark func(Mark)
	// Clock stamps marks; nil means time.Now.
	Clock func() time.Time
}

// Marker is the timing marker port: each byte the guest writes records a
// milestone (gonest-init writes one when it starts, one before it launches
// the nested guest, and so on) for the boot timeline that -stats prints.
// It implements devices.Device.
type Marker struct {
	onMark func(Mark)
	clock  func() time.Time

	mu      sync.Mutex
	marks   []Mark
	dropped int
}

// NewMarker returns a timing marker.
func NewMarker(cfg MarkerConfig) *Marker {
	m := &Marker{onMark: cfg.OnMark, clock: cfg.Clock}
	if m.clock == nil {
		m.clock = time.Now
	}
	return m
}

// Name implements devices.Named.
func (m *Marker) Name() string { return "marker" }

// Marks returns the marks recorded so far, oldest first, and how many were
// not kept because MaxMarks was reached.
func (m *Marker) Marks() (marks []Mark, dropped int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Mark(nil), m.marks...), m.dropped
}

// Read implements devices.Device: the port reads 0.
func (m *Marker) Read(offset uint64, data []byte) {
	clear(data)
}

// Write implements devices.Device: the low byte of a write at offset 0 is
// the milestone's ID; wider writes ignore the higher bytes.
func (m *Marker) Write(offset uint64, data []byte) {
	if offset != 0 || len(data) == 0 {
		return
	}
	mk := Mark{ID: data[0], At: m.clock()}
	m.mu.Lock()
	if len(m.marks) < MaxMarks {
		m.marks = append(m.marks, mk)
	} else {
		m.dropped++
	}
	m.mu.Unlock()
	if m.onMark != nil {
		m.onMark(mk)
	}
}
