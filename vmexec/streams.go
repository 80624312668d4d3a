package vmexec

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// controlStream is the control port's input: the job's line first, then
// each control line as it is sent, until Close. Reads block in between,
// which keeps the port's host end open: the guest reads the next line
// whenever there is one.
type controlStream struct {
	mu     sync.Mutex
	cond   *sync.Cond
	buf    bytes.Buffer
	closed bool
}

func newControlStream(first []byte) *controlStream {
	s := &controlStream{}
	s.cond = sync.NewCond(&s.mu)
	s.buf.Write(first)
	return s
}

// Send queues a line; after Close it is dropped.
func (s *controlStream) Send(line []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.buf.Write(line)
		s.cond.Broadcast()
	}
}

func (s *controlStream) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.buf.Len() == 0 && !s.closed {
		s.cond.Wait()
	}
	if s.buf.Len() == 0 {
		return 0, io.EOF
	}
	return s.buf.Read(p)
}

// Close ends the stream: a blocked Read returns io.EOF.
func (s *controlStream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.cond.Broadcast()
	return nil
}

// tail keeps the last lines written to it (a console), at most n, each cut
// to maxTailLine bytes; it passes everything on to out when out is set.
type tail struct {
	mu      sync.Mutex
	out     io.Writer
	n       int
	lines   []string
	partial strings.Builder
	// panicLine is the kernel's panic message, kept even when the stack
	// trace after it pushed it out of the tail.
	panicLine string
}

// panicMarker starts the message of panic() (kernel/panic.c).
const panicMarker = "Kernel panic - not syncing"

const maxTailLine = 512

func newTail(n int, out io.Writer) *tail { return &tail{n: n, out: out} }

func (t *tail) Write(p []byte) (int, error) {
	n := len(p)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.out != nil {
		_, _ = t.out.Write(p) // -v's live console: a failed write must not stop the guest's
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if room := maxTailLine - t.partial.Len(); room > 0 {
			t.partial.Write(chunk[:min(len(chunk), room)])
		}
		if i < 0 {
			break
		}
		t.push(strings.TrimRight(t.partial.String(), "\r"))
		t.partial.Reset()
		p = p[i+1:]
	}
	return n, nil
}

func (t *tail) push(line string) {
	if t.panicLine == "" {
		if i := strings.Index(line, panicMarker); i >= 0 {
			t.panicLine = line[i:]
		}
	}
	t.lines = append(t.lines, line)
	if len(t.lines) > t.n {
		t.lines = t.lines[len(t.lines)-t.n:]
	}
}

// Lines returns the kept lines, the unfinished last one included.
func (t *tail) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]string(nil), t.lines...)
	if t.partial.Len() > 0 {
		out = append(out, t.partial.String())
	}
	if len(out) > t.n {
		out = out[len(out)-t.n:]
	}
	return out
}

// Panic returns the kernel's panic message, if one went by.
func (t *tail) Panic() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.panicLine
}
