package launch

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
)

// maxConsoleLine bounds one console line; a longer one is cut in pieces.
const maxConsoleLine = 8192

// splitter cuts a byte stream into lines without their newline. A line
// that reaches max bytes is cut there (cut) or dropped up to its newline
// (a message line: half a message is no message).
type splitter struct {
	max      int
	cut      bool
	partial  []byte
	skipping bool
	emit     func([]byte)
}

func (s *splitter) write(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if !s.skipping {
			room := s.max - len(s.partial)
			if len(chunk) > room {
				if s.cut {
					s.partial = append(s.partial, chunk[:room]...)
					s.end()
					p = p[room:]
					continue
				}
				s.skipping, s.partial = true, s.partial[:0]
			} else {
				s.partial = append(s.partial, chunk...)
			}
		}
		if i < 0 {
			return
		}
		if !s.skipping {
			s.end()
		}
		s.skipping = false
		p = p[i+1:]
	}
}

// end emits the line so far, empty or not.
func (s *splitter) end() {
	s.emit(s.partial)
	s.partial = s.partial[:0]
}

// flush emits a last line that has no newline, if there is one.
func (s *splitter) flush() {
	if len(s.partial) > 0 && !s.skipping {
		s.end()
	}
}

// lines writes a stream's lines to a log with a prefix, and keeps the last
// lines of each level it sees for a failure report. For a guest console
// (nested), a line "[G2] x" from level G1 is kept under "G1/G2"; the
// VMM's own output is kept under its name. It is safe for concurrent use.
type lines struct {
	mu     sync.Mutex
	out    io.Writer
	prefix string
	key    string
	nested bool
	keep   int
	split  splitter
	tails  map[string][]string
	count  int
	hidden int
	// filter, if set, sees each line first; true keeps it off out and the
	// tails (noise, or bulk data an observer checks).
	filter func(string) bool
}

func newLines(out io.Writer, prefix, key string, nested bool, keep int) *lines {
	l := &lines{out: out, prefix: prefix, key: key, nested: nested, keep: keep, tails: map[string][]string{}}
	l.split = splitter{max: maxConsoleLine, cut: true, emit: l.line}
	return l
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.split.write(p)
	return len(p), nil
}

// Flush handles a last line without a newline.
func (l *lines) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.split.flush()
}

func (l *lines) line(b []byte) {
	s := sanitize(string(b))
	l.count++
	if l.filter != nil && l.filter(s) {
		l.hidden++
		return
	}
	// A log write error must not stop the run; the tails still work.
	_, _ = io.WriteString(l.out, l.prefix+s+"\n")
	key, text := l.key, s
	if l.nested {
		var chain []string
		chain, text = splitLevels(s)
		key = strings.Join(append([]string{l.key}, chain...), "/")
	}
	t := append(l.tails[key], text)
	if len(t) > l.keep {
		t = t[len(t)-l.keep:]
	}
	l.tails[key] = t
}

// copyTails adds the kept lines to into.
func (l *lines) copyTails(into map[string][]string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, v := range l.tails {
		into[k] = append([]string(nil), v...)
	}
}

// counts returns the lines seen and the lines the filter hid.
func (l *lines) counts() (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count, l.hidden
}

// sanitize drops terminal escape sequences (SeaBIOS clears the screen) and
// other control characters, so a CI log stays plain text.
func sanitize(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 0x1b: // ESC: skip a CSI sequence "ESC [ params final" or one more byte
			if i+1 < len(s) && s[i+1] == '[' {
				i += 2
				for i < len(s) && (s[i] < 0x40 || s[i] > 0x7e) {
					i++
				}
			} else {
				i++
			}
		case c == '\t' || c >= 0x20 && c != 0x7f:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// splitLevels takes the leading "[G1] [G2] " prefixes off a line.
func splitLevels(s string) ([]string, string) {
	var chain []string
	for strings.HasPrefix(s, "[") {
		end := strings.Index(s, "] ")
		if end < 2 || end > 8 || strings.ContainsAny(s[1:end], " []") {
			break
		}
		chain = append(chain, s[1:end])
		s = s[end+2:]
	}
	return chain, s
}

// FormatTails renders tails for an error message, outermost level first,
// so that the innermost level's lines end a CI log.
func FormatTails(tails map[string][]string) string {
	keys := make([]string, 0, len(tails))
	for k := range tails {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if a, b := strings.Count(keys[i], "/"), strings.Count(keys[j], "/"); a != b {
			return a < b
		}
		return keys[i] < keys[j]
	})
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n--- last %d lines of %s ---", len(tails[k]), k)
		for _, l := range tails[k] {
			b.WriteString("\n  | " + l)
		}
	}
	return b.String()
}
