package machine

import (
	"fmt"
	"sync"
	"time"
)

// Event is a point on the boot timeline.
type Event string

// Events gonest records itself; guest markers are added as "guest: NAME"
// (see guestabi.DescribeMarker).
const (
	EventVMMStart    Event = "vmm start"
	EventFirstRun    Event = "first KVM_RUN"
	EventFirstSerial Event = "first serial byte"
	EventVMStop      Event = "vm stop"
)

// Marker is a timing marker written by the guest to the marker port.
type Marker struct {
	// Value is what the guest wrote (see package guestabi for the values
	// gonest's own init uses).
	Value uint32
	// At is when gonest saw it, since the VMM started.
	At time.Duration
}

// Point is one entry of the timeline.
type Point struct {
	Event Event
	At    time.Duration
}

// Timeline records when boot milestones happened, once each.
type Timeline struct {
	start  time.Time
	mu     sync.Mutex
	points []Point
	seen   map[Event]bool
}

func newTimeline(start time.Time) *Timeline {
	t := &Timeline{start: start, seen: map[Event]bool{}}
	t.mark(EventVMMStart, start)
	return t
}

// mark records e at time at, unless e was already recorded.
func (t *Timeline) mark(e Event, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seen[e] {
		return
	}
	t.seen[e] = true
	t.points = append(t.points, Point{Event: e, At: at.Sub(t.start)})
}

// Points returns the recorded points in the order they happened.
func (t *Timeline) Points() []Point {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Point(nil), t.points...)
}

// Timeline returns the boot timeline recorded so far.
func (m *Machine) Timeline() *Timeline { return m.timeline }

// markf records a formatted event at time at.
func (t *Timeline) markf(at time.Time, format string, args ...any) {
	t.mark(Event(fmt.Sprintf(format, args...)), at)
}
