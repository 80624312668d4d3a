package pci

import (
	"fmt"
	"math/bits"
	"sort"
)

// Window is a range of guest physical addresses the host bridge forwards to
// PCI memory BARs (boot/layout.go names the one below 4 GiB). A BAR is
// decoded only while it lies entirely inside a window.
type Window struct {
	Base uint64
	Size uint64
}

// End returns the first address after the window.
func (w Window) End() uint64 { return w.Base + w.Size }

func (w Window) contains(base, size uint64) bool {
	return size != 0 && base >= w.Base && base+size > base && base+size <= w.End()
}

// checkWindows rejects empty, wrapping or overlapping windows and returns
// them sorted.
func checkWindows(ws []Window) ([]Window, error) {
	out := append([]Window(nil), ws...)
	sort.Slice(out, func(i, j int) bool { return out[i].Base < out[j].Base })
	for i, w := range out {
		if w.Size == 0 || w.End() < w.Base || (w.End() == 0 && w.Base != 0) {
			return nil, fmt.Errorf("pci window %#x+%#x is empty or wraps around", w.Base, w.Size)
		}
		if i > 0 && out[i-1].End() > w.Base {
			return nil, fmt.Errorf("pci windows %#x+%#x and %#x+%#x overlap",
				out[i-1].Base, out[i-1].Size, w.Base, w.Size)
		}
	}
	return out, nil
}

// Allocator places BARs inside windows, each naturally aligned (a BAR of
// size 64 KiB starts at a multiple of 64 KiB), the way firmware would. It
// only hands out addresses; it never frees them.
type Allocator struct {
	windows []Window
	next    []uint64 // first free address in each window
}

// NewAllocator returns an allocator over the windows.
func NewAllocator(windows []Window) (*Allocator, error) {
	ws, err := checkWindows(windows)
	if err != nil {
		return nil, err
	}
	a := &Allocator{windows: ws, next: make([]uint64, len(ws))}
	for i, w := range ws {
		a.next[i] = w.Base
	}
	return a, nil
}

// Allocate returns a naturally aligned base for a BAR of size bytes (a
// power of two). below4G restricts it to windows under 4 GiB, as a 32-bit
// BAR requires.
func (a *Allocator) Allocate(size uint64, below4G bool) (uint64, error) {
	if size == 0 || bits.OnesCount64(size) != 1 {
		return 0, fmt.Errorf("pci bar size %#x is not a power of two", size)
	}
	for i, w := range a.windows {
		base := (a.next[i] + size - 1) &^ (size - 1)
		if base < a.next[i] { // the round-up wrapped
			continue
		}
		if !w.contains(base, size) {
			continue
		}
		if below4G && base+size > 1<<32 {
			continue
		}
		a.next[i] = base + size
		return base, nil
	}
	return 0, fmt.Errorf("pci bar of %#x bytes does not fit in the pci windows %s; enlarge the window or use fewer devices",
		size, describeWindows(a.windows))
}

func describeWindows(ws []Window) string {
	s := ""
	for i, w := range ws {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%#x-%#x", w.Base, w.End()-1)
	}
	return s
}
