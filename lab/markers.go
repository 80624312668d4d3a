package lab

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/gonest/gonest/guestabi"
)

// Mark is a boot marker and when it arrived, counted from QEMU's start.
type Mark struct {
	Marker guestabi.Marker
	// Depth is how many levels below H the marker was written: 0 for H's
	// own init, 1 for G1's (forwarded by H's gonest -forward-markers), ...
	Depth int
	At    time.Duration
}

// Level names the level that wrote the marker: "H", "G1", "G2", ...
func (m Mark) Level() string {
	level := Level
	for range m.Depth {
		level = guestabi.NextLevel(level)
	}
	return level
}

// String names the marker for a log: `"init started"` for H's own,
// `G1 "init started"` for a deeper level's.
func (m Mark) String() string {
	if m.Depth == 0 {
		return fmt.Sprintf("%q", m.Marker.String())
	}
	return fmt.Sprintf("%s %q", m.Level(), m.Marker.String())
}

// decodeMark splits a marker byte into its depth and marker
// (guestabi.SplitMarker).
func decodeMark(b byte, at time.Duration) Mark {
	depth, id := guestabi.SplitMarker(b)
	return Mark{Marker: id, Depth: depth, At: at}
}

// markerListener collects the bytes a guest writes to the marker port.
type markerListener struct {
	ln     net.Listener
	start  time.Time
	mu     sync.Mutex
	marks  []Mark
	done   chan struct{}
	onMark func(Mark)
}

func listenMarkers(path string, start time.Time, onMark func(Mark)) (*markerListener, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	m := &markerListener{ln: ln, start: start, done: make(chan struct{}), onMark: onMark}
	go m.serve()
	return m, nil
}

func (m *markerListener) serve() {
	defer close(m.done)
	conn, err := m.ln.Accept()
	if err != nil {
		return // closed before QEMU connected
	}
	defer conn.Close()
	buf := make([]byte, 64)
	for {
		n, err := conn.Read(buf)
		at := time.Since(m.start)
		for _, b := range buf[:n] {
			mark := decodeMark(b, at)
			m.mu.Lock()
			m.marks = append(m.marks, mark)
			m.mu.Unlock()
			if m.onMark != nil {
				m.onMark(mark)
			}
		}
		if err != nil {
			return
		}
	}
}

// acceptGrace is how long Close lets a connection that QEMU made, but the
// reader has not accepted yet, still be accepted.
const acceptGrace = time.Second

// Close drains the markers and stops listening; QEMU has exited by then,
// so its connection, if it made one, is at EOF. Closing the listener at
// once would drop a connection still in the accept queue (a loaded host
// may not have run the reader yet), and with it every marker; a deadline
// lets Accept take it first.
func (m *markerListener) Close() []Mark {
	if ul, ok := m.ln.(*net.UnixListener); ok {
		// An error means the listener is closed already: nothing to drain.
		_ = ul.SetDeadline(time.Now().Add(acceptGrace))
	}
	select {
	case <-m.done:
	case <-time.After(acceptGrace + 2*time.Second):
	}
	// A close error only means it was closed already; the marks are what matter.
	_ = m.ln.Close()
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Mark(nil), m.marks...)
}

// lastMark returns the last marker seen, for a timeout message.
func lastMark(marks []Mark) (Mark, bool) {
	if len(marks) == 0 {
		return Mark{}, false
	}
	return marks[len(marks)-1], true
}

// sawMarker reports whether H's own marker want is among marks.
func sawMarker(marks []Mark, want guestabi.Marker) bool {
	for _, m := range marks {
		if m.Depth == 0 && m.Marker == want {
			return true
		}
	}
	return false
}
