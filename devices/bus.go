package devices

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
)

// Device is an emulated device on a Bus. Offsets are relative to the base the
// device was inserted at. len(data) is the access size (1, 2, 4 or 8 for a
// single access). Read fills data; Write consumes it. Neither may retain data.
type Device interface {
	Read(offset uint64, data []byte)
	Write(offset uint64, data []byte)
}

// Named is implemented by devices that want a readable name in statistics
// and error messages.
type Named interface {
	Name() string
}

// ErrOverlap is returned by Insert when a range overlaps an existing one.
var ErrOverlap = errors.New("overlaps an existing device")

type entry struct {
	base, size uint64
	dev        Device
	name       string
	accesses   *atomic.Uint64
}

// Bus maps [base, base+size) ranges to devices.
type Bus struct {
	name    string
	mu      sync.Mutex // serializes writers
	entries atomic.Pointer[[]entry]
}

// NewBus returns an empty bus. name ("pio", "mmio") appears in errors.
func NewBus(name string) *Bus {
	b := &Bus{name: name}
	b.entries.Store(&[]entry{})
	return b
}

// Name is the bus's name ("pio", "mmio").
func (b *Bus) Name() string { return b.name }

// Insert maps dev at [base, base+size). It rejects a zero size, a range that
// wraps around the address space, and any overlap.
func (b *Bus) Insert(dev Device, base, size uint64) error {
	if dev == nil {
		return fmt.Errorf("%s bus: insert at %#x: nil device", b.name, base)
	}
	if size == 0 {
		return fmt.Errorf("%s bus: insert at %#x: zero size", b.name, base)
	}
	if base+size < base && base+size != 0 {
		return fmt.Errorf("%s bus: insert %#x+%#x: range overflows", b.name, base, size)
	}
	if base+size == 0 && base != 0 {
		// A range ending exactly at 2^64 is representable only as end == 0;
		// reject it too, so end() never wraps.
		return fmt.Errorf("%s bus: insert %#x+%#x: range overflows", b.name, base, size)
	}
	name := fmt.Sprintf("%T", dev)
	if n, ok := dev.(Named); ok {
		name = n.Name()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := *b.entries.Load()
	i := sort.Search(len(old), func(i int) bool { return old[i].base >= base })
	if i > 0 && old[i-1].base+old[i-1].size > base {
		return fmt.Errorf("%s bus: insert %s at %#x+%#x: %w (%s at %#x+%#x)",
			b.name, name, base, size, ErrOverlap, old[i-1].name, old[i-1].base, old[i-1].size)
	}
	if i < len(old) && base+size > old[i].base {
		return fmt.Errorf("%s bus: insert %s at %#x+%#x: %w (%s at %#x+%#x)",
			b.name, name, base, size, ErrOverlap, old[i].name, old[i].base, old[i].size)
	}
	next := make([]entry, 0, len(old)+1)
	next = append(next, old[:i]...)
	next = append(next, entry{base: base, size: size, dev: dev, name: name, accesses: new(atomic.Uint64)})
	next = append(next, old[i:]...)
	b.entries.Store(&next)
	return nil
}

// Remove unmaps the device inserted at base. It reports whether one was.
func (b *Bus) Remove(base uint64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := *b.entries.Load()
	i := sort.Search(len(old), func(i int) bool { return old[i].base >= base })
	if i == len(old) || old[i].base != base {
		return false
	}
	next := make([]entry, 0, len(old)-1)
	next = append(next, old[:i]...)
	next = append(next, old[i+1:]...)
	b.entries.Store(&next)
	return true
}

// find returns the entry holding the whole access [addr, addr+n).
func (b *Bus) find(addr uint64, n int) (*entry, bool) {
	es := *b.entries.Load()
	i := sort.Search(len(es), func(i int) bool { return es[i].base+es[i].size > addr })
	if i == len(es) {
		return nil, false
	}
	e := &es[i]
	// Written so that no sum can wrap: the search put addr below
	// e.base+e.size, so e.size-(addr-e.base) is the room left.
	if addr < e.base || uint64(n) > e.size-(addr-e.base) {
		return nil, false
	}
	return e, true
}

// Read dispatches a read of len(data) bytes at addr. When no device holds
// the whole access it fills data with 0xff (what a floating bus returns) and
// reports false.
func (b *Bus) Read(addr uint64, data []byte) bool {
	e, ok := b.find(addr, len(data))
	if !ok {
		for i := range data {
			data[i] = 0xff
		}
		return false
	}
	e.accesses.Add(1)
	e.dev.Read(addr-e.base, data)
	return true
}

// Write dispatches a write at addr. It reports false, and drops the write,
// when no device holds the whole access.
func (b *Bus) Write(addr uint64, data []byte) bool {
	e, ok := b.find(addr, len(data))
	if !ok {
		return false
	}
	e.accesses.Add(1)
	e.dev.Write(addr-e.base, data)
	return true
}

// Lookup returns the device holding addr and addr's offset inside it.
func (b *Bus) Lookup(addr uint64) (dev Device, offset uint64, ok bool) {
	e, ok := b.find(addr, 1)
	if !ok {
		return nil, 0, false
	}
	return e.dev, addr - e.base, true
}

// Mapping describes one device on a bus, for statistics and diagnostics.
type Mapping struct {
	Name     string
	Base     uint64
	Size     uint64
	Accesses uint64
}

// Mappings lists the devices on the bus in address order, with the number
// of accesses each has served.
func (b *Bus) Mappings() []Mapping {
	es := *b.entries.Load()
	out := make([]Mapping, len(es))
	for i, e := range es {
		out[i] = Mapping{Name: e.name, Base: e.base, Size: e.size, Accesses: e.accesses.Load()}
	}
	return out
}

// InterruptLine is a guest interrupt input (an IOAPIC/PIC pin, say). Devices
// raise and lower it; the board connects it to KVM_IRQ_LINE.
type InterruptLine interface {
	SetLevel(high bool)
}

// InterruptFunc adapts a function to InterruptLine.
type InterruptFunc func(high bool)

// SetLevel calls f(high).
func (f InterruptFunc) SetLevel(high bool) { f(high) }
