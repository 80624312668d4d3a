package lab

import (
	"fmt"
	"time"

	"github.com/gonest/gonest/guestabi"
)

// Mark is a boot marker and when it arrived, counted from QEMU's start.
type Mark struct {
	Marker guestabi.Marker
	// Depth is how many levels below H the marker was written: 0 for H's
	// own init, 1 for G1's (forwarded by H's gonest -forward), ...
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
