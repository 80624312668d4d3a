package lab

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
)

// maxLine bounds one console line; a longer one is cut.
const maxLine = 8192

// console splits a level's serial output into lines, writes each to the
// log with the level's prefix, and keeps the last lines of every nested
// level, keyed by the chain of prefixes: "H", "H/G1", "H/G1/G2".
type console struct {
	mu      sync.Mutex
	log     io.Writer
	level   string
	keep    int
	partial []byte
	tails   map[string][]string
	lines   int
	hide    func(string) bool // lines neither logged nor kept, only counted
	hidden  int
	onLine  func(string) // sees every line, hidden ones too, as it arrives
}

func newConsole(log io.Writer, level string, keep int) *console {
	return &console{log: log, level: level, keep: keep, tails: map[string][]string{}}
}

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.partial = append(c.partial, p...)
			if len(c.partial) >= maxLine {
				c.line(c.partial)
			}
			break
		}
		c.line(append(c.partial, p[:i]...))
		p = p[i+1:]
	}
	return n, nil
}

// Flush handles a last line without a newline.
func (c *console) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.partial) > 0 {
		c.line(c.partial)
	}
}

func (c *console) line(b []byte) {
	s := sanitize(string(b))
	c.partial = c.partial[:0]
	c.lines++
	if c.onLine != nil {
		c.onLine(s)
	}
	if c.hide != nil && c.hide(s) {
		c.hidden++ // neither logged nor kept: expected noise
		return
	}
	// A log write error must not stop the run; the tails still work.
	_, _ = fmt.Fprintf(c.log, "[%s] %s\n", c.level, s)
	chain, text := splitLevels(s)
	key := strings.Join(append([]string{c.level}, chain...), "/")
	t := append(c.tails[key], text)
	if len(t) > c.keep {
		t = t[len(t)-c.keep:]
	}
	c.tails[key] = t
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

// Tails returns the kept lines of each level, keyed "H", "H/G1", ...
func (c *console) Tails() map[string][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string][]string, len(c.tails))
	for k, v := range c.tails {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// Lines is how many lines the level printed.
func (c *console) Lines() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lines
}

// formatTails renders tails for an error message, outermost level first.
func formatTails(tails map[string][]string) string {
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
