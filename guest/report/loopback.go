package report

import (
	"io"
	"sync"

	"github.com/gonest/gonest/devices/msgport"
	"github.com/gonest/gonest/guestabi"
)

// Loopback is Ports played in-process, as gonest plays them for its guest:
// message lines go through gonest's own message device (devices/msgport)
// and parser, and each valid message is kept and, re-encoded, written to
// Out, as `gonest run -messages` writes them, marker bytes as marker
// messages; marker and exit bytes are kept too. It lets a test run
// guest-side reporting code without a VM.
type Loopback struct {
	Out io.Writer // where valid message lines go; nil keeps them only

	mu       sync.Mutex
	port     *msgport.Port
	messages []guestabi.Message
	markers  []byte
	exits    []byte
	err      error // a write to Out failed; returned by the next write
}

// NewLoopback returns a Loopback writing message lines to out.
func NewLoopback(out io.Writer) *Loopback {
	l := &Loopback{Out: out}
	l.port = msgport.New(msgport.Config{OnLine: l.line})
	return l
}

// line runs with l.mu held (from OutB).
func (l *Loopback) line(b []byte) {
	m, err := guestabi.ParseMessage(b)
	if err != nil {
		return
	}
	l.messages = append(l.messages, m)
	l.write(m)
}

// write sends m to Out; l.mu is held.
func (l *Loopback) write(m guestabi.Message) {
	if l.Out == nil {
		return
	}
	if enc, err := guestabi.EncodeMessage(m); err == nil {
		if _, err := l.Out.Write(enc); err != nil && l.err == nil {
			l.err = err
		}
	}
}

// OutB implements Ports.
func (l *Loopback) OutB(port uint16, b byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch port {
	case guestabi.MarkerPort:
		l.markers = append(l.markers, b)
		depth, id := guestabi.SplitMarker(b)
		m := guestabi.MarkerMessage(id)
		m.Depth = depth
		l.write(m)
	case guestabi.ExitPort:
		l.exits = append(l.exits, b)
	case guestabi.MessagePort:
		l.port.Write(0, []byte{b})
	}
	err := l.err
	l.err = nil
	return err
}

// OutSB implements Ports.
func (l *Loopback) OutSB(port uint16, data []byte) error {
	for _, b := range data {
		if err := l.OutB(port, b); err != nil {
			return err
		}
	}
	return nil
}

// Messages returns the valid messages written so far.
func (l *Loopback) Messages() []guestabi.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]guestabi.Message(nil), l.messages...)
}

// Markers returns the marker bytes written so far.
func (l *Loopback) Markers() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.markers...)
}

// Exits returns the bytes written to the exit port so far.
func (l *Loopback) Exits() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.exits...)
}
