package lab

import (
	"net"
	"sync"
	"time"

	"github.com/gonest/gonest/guestabi"
)

// Mark is a boot marker and when it arrived, counted from QEMU's start.
type Mark struct {
	Marker guestabi.Marker
	At     time.Duration
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
			mark := Mark{Marker: guestabi.Marker(b), At: at}
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

// Close stops listening and waits for the reader; QEMU has exited by then,
// so the connection is at EOF.
func (m *markerListener) Close() []Mark {
	// A close error only means it was closed already; the marks are what matter.
	_ = m.ln.Close()
	select {
	case <-m.done:
	case <-time.After(2 * time.Second):
	}
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

// sawMarker reports whether want is among marks.
func sawMarker(marks []Mark, want guestabi.Marker) bool {
	for _, m := range marks {
		if m.Marker == want {
			return true
		}
	}
	return false
}
