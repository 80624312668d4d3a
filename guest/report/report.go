package report

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/gonest/gonest/guest/portio"
	"github.com/gonest/gonest/guestabi"
)

// Ports writes I/O ports; *portio.Writer is one, a test's fake another.
type Ports interface {
	OutB(port uint16, b byte) error
	OutSB(port uint16, data []byte) error
}

// Reporter writes a level's markers, messages and verdict. Its methods
// may be called from any goroutine.
type Reporter struct {
	level string
	ports Ports // nil: nothing can be written
	log   *slog.Logger
	once  sync.Once
	why   error // why ports is nil
	// markerMessages sends markers as marker messages on the message
	// port (MarkersAsMessages).
	markerMessages bool
}

// Open opens the three ports for level (gonest.level, "H", "G1", ...).
// When they cannot be opened, the Reporter logs why once, on first use,
// and drops everything; Open's error says the same for the caller.
func Open(level string, log *slog.Logger) (*Reporter, error) {
	w, err := portio.Open(guestabi.MarkerPort, guestabi.MessagePort, guestabi.ExitPort)
	if err != nil {
		err = fmt.Errorf("markers, messages and the verdict cannot reach the VMM: %w", err)
		return &Reporter{level: level, log: log, why: err}, err
	}
	return New(level, w, log), nil
}

// New returns a Reporter that writes through ports.
func New(level string, ports Ports, log *slog.Logger) *Reporter {
	return &Reporter{level: level, ports: ports, log: log}
}

// Level is the level the Reporter writes for.
func (r *Reporter) Level() string { return r.level }

// usable says whether anything can be written, logging once why not.
func (r *Reporter) usable() bool {
	if r.ports == nil {
		r.once.Do(func() { r.log.Warn("not reporting to the VMM", "err", r.why) })
		return false
	}
	return true
}

// MarkersAsMessages makes Marker send each marker as a marker message on
// the message port instead of a byte on the marker port: for a VMM that
// has no marker device (Bochs, guestabi.ParamMarkers) but carries the
// message port. Call it before the first Marker.
func (r *Reporter) MarkersAsMessages() { r.markerMessages = true }

// Marker writes a boot marker to the marker port, or sends it as a
// message after MarkersAsMessages. A failure is logged, never fatal: a
// marker only shortens a timeline.
func (r *Reporter) Marker(m guestabi.Marker) {
	if !r.usable() {
		return
	}
	var err error
	if r.markerMessages {
		err = r.Send(guestabi.MarkerMessage(m))
	} else {
		err = r.ports.OutB(guestabi.MarkerPort, uint8(m))
	}
	if err != nil {
		r.log.Warn("marker not written", "marker", m, "err", err)
	}
}

// Send writes a message, stamped with the Reporter's level, to the
// message port.
func (r *Reporter) Send(m guestabi.Message) error {
	if !r.usable() {
		return r.why
	}
	m.Level = r.level
	line, err := guestabi.EncodeMessage(m)
	if err != nil {
		return err
	}
	return r.ports.OutSB(guestabi.MessagePort, line)
}

// Event sends an event with key, value fields; a failure is logged.
func (r *Reporter) Event(name string, kv ...string) {
	if err := r.Send(guestabi.EventMessage(name, kv...)); err != nil && r.ports != nil {
		r.log.Warn("event not sent", "event", name, "err", err)
	}
}

// Result sends a result; a failure is logged.
func (r *Reporter) Result(name, text string, metrics map[string]float64) {
	if err := r.Send(guestabi.ResultMessage(name, text, metrics)); err != nil && r.ports != nil {
		r.log.Warn("result not sent", "result", name, "err", err)
	}
}

// Verdict sends the verdict message, then writes the verdict to the exit
// port: under a VMM that honours the port, the VM is gone before Verdict
// returns.
func (r *Reporter) Verdict(v guestabi.Verdict) error {
	err := r.Send(guestabi.VerdictMessage(v))
	if r.ports == nil {
		return err
	}
	return errors.Join(err, r.ports.OutB(guestabi.ExitPort, uint8(v)))
}

// Forward passes on a message of the level below, as gonest -forward
// does for its guest: depth raised by one, the writer's level kept. A
// level uses it when the VMM it runs the next level with does not
// forward (QEMU's isa-debugcon hands the messages to this level only).
func (r *Reporter) Forward(m guestabi.Message) error {
	if !r.usable() {
		return r.why
	}
	line, err := guestabi.EncodeMessage(m.Forwarded())
	if err != nil {
		return err
	}
	return r.ports.OutSB(guestabi.MessagePort, line)
}

// ForwardMarker passes on marker m that the level depth below this one's
// guest wrote (0: the guest itself), with its depth raised by one.
func (r *Reporter) ForwardMarker(depth int, m guestabi.Marker) {
	if !r.usable() {
		return
	}
	if err := r.ports.OutB(guestabi.MarkerPort, guestabi.MarkerByte(depth+1, m)); err != nil {
		r.log.Warn("marker not forwarded", "marker", m, "err", err)
	}
}
