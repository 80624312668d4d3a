package msgport

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices"
	"github.com/gonest/gonest/guestabi"
)

// recorder collects the lines a Port delivers.
type recorder struct{ lines []string }

func (r *recorder) add(l []byte) { r.lines = append(r.lines, string(l)) }

// op is one guest access: a write of data at offset, or a read.
type op struct {
	offset uint64
	data   []byte
	read   bool
}

func writes(s string) []op {
	var ops []op
	for i := range len(s) {
		ops = append(ops, op{data: []byte{s[i]}})
	}
	return ops
}

func TestPortRegisters(t *testing.T) {
	tests := []struct {
		name    string
		maxLine int
		ops     []op
		want    []string
		dropped uint64
	}{
		{"one line", 0, writes("@gonest {}\n"), []string{"@gonest {}"}, 0},
		{"two lines, CR kept for the parser", 0, writes("a\r\nb\n"), []string{"a\r", "b"}, 0},
		{"empty line", 0, writes("\n"), []string{""}, 0},
		{"no newline yet", 0, writes("partial"), nil, 0},
		{"outw and outl send their low byte", 0,
			[]op{{data: []byte{'o', 'x'}}, {data: []byte{'k', 0, 0, 0}}, {data: []byte{'\n', 'y'}}}, []string{"ok"}, 0},
		{"other offsets ignored", 0, []op{{offset: 1, data: []byte{'x'}}, {data: []byte{'y'}}, {data: []byte{'\n'}}}, []string{"y"}, 0},
		{"empty access ignored", 0, []op{{data: nil}, {data: []byte{'\n'}}}, []string{""}, 0},
		{"reads change nothing", 0, append(append(writes("a"), op{read: true}), writes("b\n")...), []string{"ab"}, 0},
		{"line at the limit", 4, writes("abcd\n"), []string{"abcd"}, 0},
		{"line past the limit dropped whole", 4, writes("abcde\nok\n"), []string{"ok"}, 1},
		{"a long line's tail never leaks", 4, writes("abcdefghijklmno\nx\n"), []string{"x"}, 1},
		{"NUL and high bytes pass to the parser", 0, writes("\x00\xff\n"), []string{"\x00\xff"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			p := New(Config{OnLine: r.add, MaxLine: tt.maxLine})
			for _, o := range tt.ops {
				if o.read {
					b := make([]byte, 1)
					p.Read(0, b)
					continue
				}
				p.Write(o.offset, o.data)
			}
			assert.Equal(t, tt.want, r.lines)
			lines, dropped := p.Counts()
			assert.Equal(t, uint64(len(tt.want)), lines)
			assert.Equal(t, tt.dropped, dropped)
		})
	}
}

func TestPortReadback(t *testing.T) {
	p := New(Config{})
	for _, tt := range []struct {
		offset uint64
		size   int
		want   []byte
	}{
		{0, 1, []byte{0xe9}},
		{0, 4, []byte{0xe9, 0, 0, 0}},
		{1, 1, []byte{0}},
	} {
		b := bytes.Repeat([]byte{0x55}, tt.size)
		p.Read(tt.offset, b)
		assert.Equal(t, tt.want, b)
	}
	p.Read(0, nil) // no panic
	assert.Equal(t, "messages", p.Name())
}

// TestHostileFloodStaysBounded plays a guest that writes 256 KiB without a
// newline, then a message: the device holds at most one line, and the
// message after it still arrives.
func TestHostileFloodStaysBounded(t *testing.T) {
	var r recorder
	p := New(Config{OnLine: r.add})
	for i := range 256 << 10 {
		p.Write(0, []byte{'x'})
		if i%1000 == 0 {
			require.LessOrEqual(t, len(p.partial), guestabi.MaxMessageLine)
		}
	}
	line, err := guestabi.EncodeMessage(guestabi.VerdictMessage(guestabi.Pass))
	require.NoError(t, err)
	for _, b := range append([]byte("\n"), line...) {
		p.Write(0, []byte{b})
	}
	require.Len(t, r.lines, 1)
	m, err := guestabi.ParseMessage([]byte(r.lines[0]))
	require.NoError(t, err)
	assert.Equal(t, guestabi.Pass, m.Verdict.Code)
	_, dropped := p.Counts()
	assert.Equal(t, uint64(1), dropped)
}

func TestPortOnABus(t *testing.T) {
	var r recorder
	bus := devices.NewBus("pio")
	require.NoError(t, bus.Insert(New(Config{OnLine: r.add}), guestabi.MessagePort, Size))
	for _, b := range []byte("hi\n") {
		assert.True(t, bus.Write(guestabi.MessagePort, []byte{b}))
	}
	assert.Equal(t, []string{"hi"}, r.lines)
	assert.False(t, bus.Write(guestabi.MessagePort+1, []byte{'x'}), "one port only")
}

// FuzzPort writes arbitrary bytes at arbitrary offsets: no panic, no line
// above the limit, and the device never holds more than one line.
func FuzzPort(f *testing.F) {
	f.Add([]byte("@gonest {\"v\":1}\n"), uint8(0))
	f.Add([]byte(strings.Repeat("x", 40)+"\n\n"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, offsets uint8) {
		const limit = 32
		p := New(Config{MaxLine: limit, OnLine: func(l []byte) {
			if len(l) > limit {
				t.Fatalf("line of %d bytes delivered, limit %d", len(l), limit)
			}
		}})
		for i, b := range data {
			off := uint64(0)
			if offsets&(1<<(i%8)) != 0 {
				off = uint64(i % 3)
			}
			p.Write(off, []byte{b})
			if len(p.partial) > limit {
				t.Fatalf("holding %d bytes", len(p.partial))
			}
		}
	})
}

var (
	_ devices.Device = (*Port)(nil)
	_ devices.Named  = (*Port)(nil)
)
