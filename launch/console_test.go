package launch

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSplitLevels(t *testing.T) {
	tests := []struct {
		line  string
		chain []string
		text  string
	}{
		{"init: started", nil, "init: started"},
		{"[G1] init: started", []string{"G1"}, "init: started"},
		{"[G1] [G2] hello", []string{"G1", "G2"}, "hello"},
		{"[    0.000000] Linux version", nil, "[    0.000000] Linux version"}, // a kernel timestamp is no level
		{"[G1] [    1.2] x", []string{"G1"}, "[    1.2] x"},
		{"[a b] x", nil, "[a b] x"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			chain, text := splitLevels(tt.line)
			assert.Equal(t, tt.chain, chain)
			assert.Equal(t, tt.text, text)
		})
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain\ttext", "plain\ttext"},
		{"\x1bc\x1b[?7l\x1b[2Jinit: started\r", "init: started"},
		{"\x1b[0mSeaBIOS", "SeaBIOS"},
		{"bell\x07 nul\x00 del\x7f", "bell nul del"},
		{"cut \x1b[", "cut "},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, sanitize(tt.in), "%q", tt.in)
	}
}

func TestLinesTailsPerLevel(t *testing.T) {
	var log bytes.Buffer
	c := newLines(&log, "[H] ", "H", true, 2)
	_, _ = c.Write([]byte("h1\r\nh2\n[G1] g1\n[G1] [G2] deep1\n[G1] [G2] deep2\n[G1] [G2] deep3\nh3\n[G1] g2"))
	c.Flush()
	assert.Equal(t, "[H] h1\n[H] h2\n[H] [G1] g1\n[H] [G1] [G2] deep1\n[H] [G1] [G2] deep2\n[H] [G1] [G2] deep3\n[H] h3\n[H] [G1] g2\n", log.String())
	tails := map[string][]string{}
	c.copyTails(tails)
	assert.Equal(t, map[string][]string{
		"H":       {"h2", "h3"},
		"H/G1":    {"g1", "g2"},
		"H/G1/G2": {"deep2", "deep3"},
	}, tails)
	n, hidden := c.counts()
	assert.Equal(t, 8, n)
	assert.Zero(t, hidden)
	assert.Equal(t,
		"\n--- last 2 lines of H ---\n  | h2\n  | h3"+
			"\n--- last 2 lines of H/G1 ---\n  | g1\n  | g2"+
			"\n--- last 2 lines of H/G1/G2 ---\n  | deep2\n  | deep3",
		FormatTails(tails))
}

func TestLinesFilterHidesAndCounts(t *testing.T) {
	var log bytes.Buffer
	c := newLines(&log, "[qemu] ", "qemu", false, 5)
	c.filter = func(l string) bool { return strings.Contains(l, "TCG doesn't support") }
	_, _ = c.Write([]byte("qemu-system-x86_64: warning: TCG doesn't support requested feature: CPUID.07H:EBX.rdseed [bit 18]\n[G1] real error\n"))
	assert.Equal(t, "[qemu] [G1] real error\n", log.String())
	tails := map[string][]string{}
	c.copyTails(tails)
	assert.Equal(t, map[string][]string{"qemu": {"[G1] real error"}}, tails, "the VMM's own lines are not split by level")
	_, hidden := c.counts()
	assert.Equal(t, 1, hidden)
}

// TestSplitter cuts console lines at the limit, and drops a message line
// longer than the limit whole, up to its newline.
func TestSplitter(t *testing.T) {
	tests := []struct {
		name   string
		cut    bool
		writes []string
		want   []string
	}{
		{"lines across writes", true, []string{"ab", "c\nd", "\n"}, []string{"abc", "d"}},
		{"cut at the limit", true, []string{"abcdefghij\n"}, []string{"abcd", "efgh", "ij"}},
		{"cut across writes", true, []string{"abc", "def", "\n"}, []string{"abcd", "ef"}},
		{"exactly the limit", false, []string{"abcd\n"}, []string{"abcd"}},
		{"dropped whole", false, []string{"abcde\nok\n"}, []string{"ok"}},
		{"dropped across writes", false, []string{"abc", "defgh", "ij\nok", "\n"}, []string{"ok"}},
		{"empty lines", false, []string{"\n\n"}, []string{"", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			s := splitter{max: 4, cut: tt.cut, emit: func(b []byte) { got = append(got, string(b)) }}
			for _, w := range tt.writes {
				s.write([]byte(w))
			}
			assert.Equal(t, tt.want, got)
		})
	}
}
