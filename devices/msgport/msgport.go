package msgport

import (
	"sync"

	"github.com/gonest/gonest/guestabi"
)

// Size is the number of ports the device decodes.
const Size = 1

// Readback is what a read at offset 0 returns: "something listens here".
const Readback = guestabi.MessagePortReadback

// Config is what the board gives a Port.
type Config struct {
	// OnLine, if set, gets each complete line (newline removed), on the
	// vCPU thread that wrote the newline: it must not block. The slice is
	// the callee's to keep.
	OnLine func(line []byte)
	// MaxLine bounds a line; guestabi.MaxMessageLine when zero.
	MaxLine int
}

// Port is the message port. It implements devices.Device and
// devices.Named.
type Port struct {
	onLine  func([]byte)
	maxLine int

	mu       sync.Mutex
	partial  []byte
	skipping bool // the current line grew past maxLine: drop up to '\n'
	lines    uint64
	dropped  uint64
}

// New returns a message port.
func New(cfg Config) *Port {
	p := &Port{onLine: cfg.OnLine, maxLine: cfg.MaxLine}
	if p.maxLine <= 0 {
		p.maxLine = guestabi.MaxMessageLine
	}
	return p
}

// Name implements devices.Named.
func (p *Port) Name() string { return "messages" }

// Read implements devices.Device: Readback at offset 0, zeros elsewhere.
func (p *Port) Read(offset uint64, data []byte) {
	clear(data)
	if offset == 0 && len(data) > 0 {
		data[0] = Readback
	}
}

// Write implements devices.Device. A write at offset 0 adds its low byte
// to the line (outw and outl send only their low byte, as isa-debugcon
// does); '\n' ends the line.
func (p *Port) Write(offset uint64, data []byte) {
	if offset != 0 || len(data) == 0 {
		return
	}
	line, ok := p.add(data[0])
	if ok && p.onLine != nil {
		p.onLine(line)
	}
}

// add takes one byte and returns a finished line, if this byte ended one.
func (p *Port) add(b byte) ([]byte, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case b == '\n' && p.skipping:
		p.skipping = false
		return nil, false
	case b == '\n':
		line := append([]byte(nil), p.partial...)
		p.partial = p.partial[:0]
		p.lines++
		return line, true
	case p.skipping:
	case len(p.partial) >= p.maxLine:
		p.skipping = true
		p.dropped++
		p.partial = p.partial[:0]
	default:
		p.partial = append(p.partial, b)
	}
	return nil, false
}

// Counts returns how many lines were delivered and how many were dropped
// for being longer than the maximum.
func (p *Port) Counts() (lines, dropped uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lines, p.dropped
}
