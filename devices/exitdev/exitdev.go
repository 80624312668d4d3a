package exitdev

import "sync"

// Size is the number of ports the exit device decodes, like QEMU's
// isa-debug-exit with iosize=4. Only offset 0 does anything.
const Size = 4

// Exit is the CI exit device: a guest write of byte N at offset 0 ends the
// run with exit status N. It implements devices.Device.
type Exit struct {
	name string
	fn   func(code uint8)

	mu   sync.Mutex
	code uint8
	seen bool
}

// New returns an exit device that calls fn with the code the guest writes.
// fn runs on the vCPU thread and may be called more than once if the guest
// keeps writing; Code reports the first.
func New(fn func(code uint8)) *Exit {
	return &Exit{name: "exit", fn: fn}
}

// Name implements devices.Named.
func (e *Exit) Name() string { return e.name }

// Code returns the first code the guest wrote, and whether it wrote one.
func (e *Exit) Code() (uint8, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.code, e.seen
}

// Read implements devices.Device: the port reads 0.
func (e *Exit) Read(offset uint64, data []byte) {
	clear(data)
}

// Write implements devices.Device. A write of any width at offset 0 exits
// with its low byte: outb, outw and outl of N all mean N (for outw and
// outl the higher bytes are ignored). Writes at offsets 1-3 are ignored.
func (e *Exit) Write(offset uint64, data []byte) {
	if offset != 0 || len(data) == 0 {
		return
	}
	code := data[0]
	e.mu.Lock()
	if !e.seen {
		e.code, e.seen = code, true
	}
	e.mu.Unlock()
	if e.fn != nil {
		e.fn(code)
	}
}
