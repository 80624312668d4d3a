package launch

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gonest/gonest/guestabi"
)

// maxRecords bounds the marks and the messages a Result keeps, so that a
// guest writing them in a loop cannot grow this process's memory; the
// observer still sees every one.
const maxRecords = 4096

// Mark is a boot marker and when it arrived, counted from the VMM's start.
type Mark struct {
	Marker guestabi.Marker
	// Depth is how many levels below the launched guest the marker was
	// written: 0 for its own init, 1 for its guest's (forwarded by its
	// VMM), and so on.
	Depth int
	At    time.Duration
}

// Message is a guest's message and when it arrived.
type Message struct {
	guestabi.Message
	At time.Duration
}

// Observer watches a run as it happens. Any field may be nil. Run calls
// them one at a time, from its reader goroutines: they must not block
// for long, and must not call Run's result.
type Observer struct {
	// Line gets each line of the guest's console as the VMM printed it
	// (nested levels keep their "[G2] " prefixes). Returning true keeps the
	// line off Spec.Console and the tails: bulk data the observer checks.
	Line func(line string) (hide bool)
	// Message gets each message, markers included when they arrive as
	// messages.
	Message func(m Message)
	// Mark gets each boot marker.
	Mark func(m Mark)
	// Started gets the running VMM, to log its command line or signal it.
	Started func(p *Process)
}

// recorder collects what the readers see, in arrival order, and calls the
// observer.
type recorder struct {
	mu      sync.Mutex
	start   time.Time
	obs     Observer
	marks   []Mark
	msgs    []Message
	dropped int
	verdict *guestabi.Verdict // the guest's own (depth 0) first verdict message
	// markerBytes: the VMM carries markers on a channel of their own, so
	// marker messages are not marks too.
	markerBytes bool
}

// line passes a console line to the observer.
func (r *recorder) line(s string) bool {
	if r.obs.Line == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.obs.Line(s)
}

// message records a message that arrived now.
func (r *recorder) message(m guestabi.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at := time.Since(r.start)
	if m.Type == guestabi.MsgMarker && !r.markerBytes {
		r.addMark(Mark{Marker: m.Marker.ID, Depth: m.Depth, At: at})
	}
	if m.Type == guestabi.MsgVerdict && m.Depth == 0 && r.verdict == nil {
		v := m.Verdict.Code
		r.verdict = &v
	}
	msg := Message{Message: m, At: at}
	if len(r.msgs) < maxRecords {
		r.msgs = append(r.msgs, msg)
	} else {
		r.dropped++
	}
	if r.obs.Message != nil {
		r.obs.Message(msg)
	}
}

// markByte records a byte of a marker channel that arrived now.
func (r *recorder) markByte(b byte) {
	depth, id := guestabi.SplitMarker(b)
	r.mu.Lock()
	defer r.mu.Unlock()
	at := time.Since(r.start)
	r.addMark(Mark{Marker: id, Depth: depth, At: at})
}

// addMark records a mark; r.mu is held.
func (r *recorder) addMark(m Mark) {
	if len(r.marks) < maxRecords {
		r.marks = append(r.marks, m)
	} else {
		r.dropped++
	}
	if r.obs.Mark != nil {
		r.obs.Mark(m)
	}
}

// messageStream returns a writer whose lines are read as messages; other
// lines go to other (nil: dropped). Lines longer than
// guestabi.MaxMessageLine are dropped whole.
func (r *recorder) messageStream(other func(line []byte)) *streamWriter {
	w := &streamWriter{}
	w.split = splitter{max: guestabi.MaxMessageLine, emit: func(line []byte) {
		m, err := guestabi.ParseMessage(line)
		switch {
		case err == nil:
			r.message(m)
		case errors.Is(err, guestabi.ErrNotMessage) && other != nil:
			other(line)
		}
	}}
	return w
}

// streamWriter feeds a splitter from concurrent writers.
type streamWriter struct {
	mu    sync.Mutex
	split splitter
}

func (w *streamWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.split.write(p)
	return len(p), nil
}

// markerStream returns a writer whose bytes are marker bytes.
func (r *recorder) markerStream() writerFunc {
	return func(p []byte) (int, error) {
		for _, b := range p {
			r.markByte(b)
		}
		return len(p), nil
	}
}

// writerFunc is an io.Writer made of a function.
type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// String names the marker for a log: `"init started"` for the launched
// guest's own, `+1 "init started"` for one a level below.
func (m Mark) String() string {
	if m.Depth == 0 {
		return fmt.Sprintf("%q", m.Marker.String())
	}
	return fmt.Sprintf("+%d %q", m.Depth, m.Marker.String())
}
