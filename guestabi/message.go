package guestabi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// MessagePort takes message lines, one byte per write (outb, or rep outsb
// for a whole line). It is the debug-console port 0xE9 that QEMU's
// isa-debugcon and Bochs's port_e9_hack also carry, so one guest reports
// the same way under gonest, QEMU and Bochs. Reading it returns
// MessagePortReadback when a VMM listens there.
const MessagePort = 0xE9

// MessagePortReadback is what a read of MessagePort returns under gonest,
// QEMU's isa-debugcon and Bochs's port_e9_hack alike.
const MessagePortReadback = 0xE9

// A message is one line: MessagePrefix, then one JSON object (Message),
// then a newline:
//
//	@gonest {"v":1,"depth":0,"level":"G2","type":"verdict","verdict":{"code":0,"name":"pass"}}
//
// A line without the prefix is not a message: a VMM may share the stream
// with other text (Bochs prints its own lines on the same output).
const (
	MessagePrefix = "@gonest "
	// MaxMessageLine bounds a line, prefix included, newline excluded. A
	// VMM drops a longer line whole, so a guest cannot grow the memory of
	// the VMM or of the level that reads the messages.
	MaxMessageLine = 4096
	// MessageVersion is the format's version, the "v" of every message.
	MessageVersion = 1
	// MaxMessageDepth is the deepest level a message can name: a VMM that
	// forwards a message of that depth leaves the depth as it is.
	MaxMessageDepth = 15
	// maxFields bounds an event's fields and a result's metrics.
	maxFields = 32
	// maxName bounds a level, event, result or field name.
	maxName = 64
)

// MessageType says which body a Message carries.
type MessageType string

// The message types.
const (
	MsgVerdict MessageType = "verdict" // the scenario's outcome (Verdict)
	MsgMarker  MessageType = "marker"  // a boot milestone (Marker), written to MarkerPort, or as a message where the VMM has no marker device
	MsgEvent   MessageType = "event"   // something the level above acts on: "blk-synced", "console-ready", ...
	MsgResult  MessageType = "result"  // a measurement: a bench table row, read rates, ...
)

// Message is one message of a level to the levels above it.
type Message struct {
	V int `json:"v"`
	// Depth is how many levels below the reader's guest the message was
	// written: 0 for its own guest. A VMM that forwards a message raises it.
	Depth int `json:"depth"`
	// Level names the writer ("H", "G1", ...), as gonest.level told it.
	Level   string       `json:"level,omitempty"`
	Type    MessageType  `json:"type"`
	Verdict *VerdictBody `json:"verdict,omitempty"`
	Marker  *MarkerBody  `json:"marker,omitempty"`
	Event   *EventBody   `json:"event,omitempty"`
	Result  *ResultBody  `json:"result,omitempty"`
}

// VerdictBody is a MsgVerdict's body.
type VerdictBody struct {
	Code Verdict `json:"code"`
	Name string  `json:"name"` // Verdict.String, for people reading the stream
}

// MarkerBody is a MsgMarker's body.
type MarkerBody struct {
	ID   Marker `json:"id"`
	Name string `json:"name"` // Marker.String
}

// EventBody is a MsgEvent's body: a name and string fields.
type EventBody struct {
	Name   string            `json:"name"`
	Fields map[string]string `json:"fields,omitempty"`
}

// ResultBody is a MsgResult's body: a name, a line of text for people
// (a benchmark's table row) and numbers for programs.
type ResultBody struct {
	Name    string             `json:"name"`
	Text    string             `json:"text,omitempty"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
}

// Names of the events and results that cross package boundaries.
const (
	// ResultBenchRow is a benchmark's table row (ResultBody.Text), which
	// lab/cmd/gonest-bench prints.
	ResultBenchRow = "bench-row"
	// ResultDoctor is gonest doctor's findings at a level: its verdict line
	// as text, and what it found as metrics (package scenario names them).
	ResultDoctor = "doctor"
)

// VerdictMessage returns the message that reports v.
func VerdictMessage(v Verdict) Message {
	return Message{Type: MsgVerdict, Verdict: &VerdictBody{Code: v, Name: v.String()}}
}

// MarkerMessage returns the message that reports m.
func MarkerMessage(m Marker) Message {
	return Message{Type: MsgMarker, Marker: &MarkerBody{ID: m, Name: m.String()}}
}

// EventMessage returns an event named name with fields given as key,
// value pairs ("files", "200").
func EventMessage(name string, kv ...string) Message {
	e := &EventBody{Name: name}
	for i := 0; i+1 < len(kv); i += 2 {
		if e.Fields == nil {
			e.Fields = map[string]string{}
		}
		e.Fields[kv[i]] = kv[i+1]
	}
	return Message{Type: MsgEvent, Event: e}
}

// ResultMessage returns a result named name.
func ResultMessage(name, text string, metrics map[string]float64) Message {
	return Message{Type: MsgResult, Result: &ResultBody{Name: name, Text: text, Metrics: metrics}}
}

// IsEvent reports whether m is the event called name.
func (m Message) IsEvent(name string) bool {
	return m.Type == MsgEvent && m.Event != nil && m.Event.Name == name
}

// Forwarded returns m as the VMM of m's writer passes it one level up:
// its depth raised by one, up to MaxMessageDepth.
func (m Message) Forwarded() Message {
	m.Depth = min(m.Depth+1, MaxMessageDepth)
	return m
}

// String is the message without its prefix, for logs.
func (m Message) String() string {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Sprintf("invalid message: %v", err)
	}
	return string(b)
}

// ErrNotMessage is ParseMessage's error for a line without MessagePrefix:
// other text on the same stream, not a broken message.
var ErrNotMessage = errors.New("not a message line")

// EncodeMessage returns m as one line, newline included. V is set to
// MessageVersion when zero. A message that ParseMessage would refuse is an
// error here, so a writer never sends what no reader takes.
func EncodeMessage(m Message) ([]byte, error) {
	if m.V == 0 {
		m.V = MessageVersion
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	if len(MessagePrefix)+len(body) > MaxMessageLine {
		return nil, fmt.Errorf("message: %d bytes, longer than %d", len(MessagePrefix)+len(body), MaxMessageLine)
	}
	line := make([]byte, 0, len(MessagePrefix)+len(body)+1)
	line = append(append(append(line, MessagePrefix...), body...), '\n')
	return line, nil
}

// ParseMessage reads one line (with or without its newline). A line
// without MessagePrefix gives ErrNotMessage; a line with it that is too
// long, not one JSON object, of another version or with a bad body gives
// an error that says why.
func ParseMessage(line []byte) (Message, error) {
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	rest, ok := bytes.CutPrefix(line, []byte(MessagePrefix))
	if !ok {
		return Message{}, ErrNotMessage
	}
	if len(line) > MaxMessageLine {
		return Message{}, fmt.Errorf("message: %d bytes, longer than %d", len(line), MaxMessageLine)
	}
	var m Message
	dec := json.NewDecoder(bytes.NewReader(rest))
	if err := dec.Decode(&m); err != nil {
		return Message{}, fmt.Errorf("message: %w", err)
	}
	if dec.More() {
		return Message{}, errors.New("message: text after the JSON object")
	}
	if m.V != MessageVersion {
		return Message{}, fmt.Errorf("message: version %d, this reader knows %d", m.V, MessageVersion)
	}
	if err := m.validate(); err != nil {
		return Message{}, err
	}
	// An empty object and none are the same message.
	if m.Event != nil && len(m.Event.Fields) == 0 {
		m.Event.Fields = nil
	}
	if m.Result != nil && len(m.Result.Metrics) == 0 {
		m.Result.Metrics = nil
	}
	return m, nil
}

// validate checks what the format promises: a known type with its body
// and no other, bounded names and counts, printable text.
func (m Message) validate() error {
	if m.Depth < 0 || m.Depth > MaxMessageDepth {
		return fmt.Errorf("message: depth %d outside 0 to %d", m.Depth, MaxMessageDepth)
	}
	if err := checkName("level", m.Level, true); err != nil {
		return err
	}
	bodies := 0
	for _, set := range []bool{m.Verdict != nil, m.Marker != nil, m.Event != nil, m.Result != nil} {
		if set {
			bodies++
		}
	}
	var err error
	switch {
	case m.Type == MsgVerdict && m.Verdict != nil:
		err = checkVerdict(*m.Verdict)
	case m.Type == MsgMarker && m.Marker != nil:
		err = checkMarker(*m.Marker)
	case m.Type == MsgEvent && m.Event != nil:
		err = checkEvent(*m.Event)
	case m.Type == MsgResult && m.Result != nil:
		err = checkResult(*m.Result)
	default:
		return fmt.Errorf("message: type %q without its body, or an unknown type", clipText(string(m.Type)))
	}
	if err == nil && bodies != 1 {
		err = fmt.Errorf("message: type %s with %d bodies, want 1", m.Type, bodies)
	}
	return err
}

func checkVerdict(v VerdictBody) error {
	if v.Code > 0x7f {
		return fmt.Errorf("message: verdict %d above 127", uint8(v.Code))
	}
	return checkText("verdict name", v.Name)
}

func checkMarker(mk MarkerBody) error {
	if mk.ID == 0 || mk.ID > markerIDMask {
		return fmt.Errorf("message: marker %d outside 1 to %d", uint8(mk.ID), markerIDMask)
	}
	return checkText("marker name", mk.Name)
}

func checkEvent(e EventBody) error {
	if err := checkName("event", e.Name, false); err != nil {
		return err
	}
	if len(e.Fields) > maxFields {
		return fmt.Errorf("message: event %s has %d fields, at most %d", e.Name, len(e.Fields), maxFields)
	}
	for k, v := range e.Fields {
		if err := checkName("field", k, false); err != nil {
			return err
		}
		if err := checkText("field "+k, v); err != nil {
			return err
		}
	}
	return nil
}

func checkResult(r ResultBody) error {
	if err := checkName("result", r.Name, false); err != nil {
		return err
	}
	if err := checkText("result text", r.Text); err != nil {
		return err
	}
	if len(r.Metrics) > maxFields {
		return fmt.Errorf("message: result %s has %d metrics, at most %d", r.Name, len(r.Metrics), maxFields)
	}
	for k, v := range r.Metrics {
		if err := checkName("metric", k, false); err != nil {
			return err
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("message: metric %s is %v", k, v)
		}
	}
	return nil
}

// checkName accepts 1 to maxName letters, digits and ._+- (or nothing
// when empty is true).
func checkName(what, s string, empty bool) error {
	if s == "" && empty {
		return nil
	}
	ok := s != "" && len(s) <= maxName
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._+-", r)) {
			ok = false
			break
		}
	}
	if !ok {
		return fmt.Errorf("message: bad %s name %q: want 1 to %d of a-z A-Z 0-9 . _ + -", what, clipText(s), maxName)
	}
	return nil
}

// checkText refuses control characters, which would garble a log.
func checkText(what, s string) error {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return fmt.Errorf("message: %s holds control character %U", what, r)
		}
	}
	return nil
}

// clipText shortens s for an error message.
func clipText(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
