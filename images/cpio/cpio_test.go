package cpio

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readAll(t *testing.T, data []byte) []Entry {
	t.Helper()
	r := NewReader(bytes.NewReader(data), 1<<20)
	var out []Entry
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, e)
	}
}

func TestWriterGoldenBytes(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	require.NoError(t, w.File("a", 0o644, []byte("hi")))
	require.NoError(t, w.Close())

	want := "070701" + "00000001" + "000081a4" + "00000000" + "00000000" + "00000001" + "00000000" +
		"00000002" + "00000000" + "00000000" + "00000000" + "00000000" + "00000002" + "00000000" +
		"a\x00" + "hi\x00\x00" +
		"070701" + "00000000" + "00000000" + "00000000" + "00000000" + "00000001" + "00000000" +
		"00000000" + "00000000" + "00000000" + "00000000" + "00000000" + "0000000b" + "00000000" +
		"TRAILER!!!\x00" + "\x00\x00\x00"
	assert.Equal(t, want, buf.String())
	assert.Zero(t, buf.Len()%4, "archive length is a multiple of 4")
}

func TestWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	require.NoError(t, w.CharDev("/dev/console", 0o600, 5, 1))
	require.NoError(t, w.File("/bin/gonest", 0o755, []byte("binary")))
	require.NoError(t, w.Symlink("bin/sh", "gosh"))
	require.NoError(t, w.Dir("tmp", 0o1777))
	require.NoError(t, w.File("lib/modules/6.1/kernel/kvm.ko", 0o644, []byte("odd")))
	require.NoError(t, w.Close())

	type row struct {
		Name string
		Mode uint32
		Data string
		Rdev [2]uint32
	}
	var got []row
	for _, e := range readAll(t, buf.Bytes()) {
		got = append(got, row{e.Name, e.Mode, string(e.Data), [2]uint32{e.RdevMajor, e.RdevMinor}})
	}
	assert.Equal(t, []row{
		{"dev", ModeDir | 0o755, "", [2]uint32{}},
		{"dev/console", ModeCharDev | 0o600, "", [2]uint32{5, 1}},
		{"bin", ModeDir | 0o755, "", [2]uint32{}},
		{"bin/gonest", ModeRegular | 0o755, "binary", [2]uint32{}},
		{"bin/sh", ModeSymlink | 0o777, "gosh", [2]uint32{}},
		{"tmp", ModeDir | 0o1777, "", [2]uint32{}},
		{"lib", ModeDir | 0o755, "", [2]uint32{}},
		{"lib/modules", ModeDir | 0o755, "", [2]uint32{}},
		{"lib/modules/6.1", ModeDir | 0o755, "", [2]uint32{}},
		{"lib/modules/6.1/kernel", ModeDir | 0o755, "", [2]uint32{}},
		{"lib/modules/6.1/kernel/kvm.ko", ModeRegular | 0o644, "odd", [2]uint32{}},
		{"TRAILER!!!", 0, "", [2]uint32{}},
	}, got)
}

func TestReaderConcatenatedArchives(t *testing.T) {
	var buf bytes.Buffer
	for _, name := range []string{"first", "second"} {
		w := NewWriter(&buf)
		require.NoError(t, w.File(name, 0o644, []byte(name)))
		require.NoError(t, w.Close())
		buf.Write(make([]byte, 512)) // padding between archives, as cat of blocked archives gives
	}
	var names []string
	for _, e := range readAll(t, buf.Bytes()) {
		names = append(names, e.Name)
	}
	assert.Equal(t, []string{"first", "TRAILER!!!", "second", "TRAILER!!!"}, names)
}

func TestWriterRejects(t *testing.T) {
	tests := []struct {
		name string
		add  func(w *Writer) error
		want string
	}{
		{"root", func(w *Writer) error { return w.File("/", 0o644, nil) }, "bad archive name"},
		{"NUL", func(w *Writer) error { return w.File("a\x00b", 0o644, nil) }, "bad archive name"},
		{"too big", func(w *Writer) error { return w.FileFrom("big", 0o644, 1<<32, strings.NewReader("")) }, "4 GiB"},
		{"short reader", func(w *Writer) error { return w.FileFrom("short", 0o644, 10, strings.NewReader("abc")) }, "wrote 3 of 10"},
		{"empty link", func(w *Writer) error { return w.Symlink("l", "") }, "bad link target"},
		{"after close", func(w *Writer) error { _ = w.Close(); return w.File("x", 0o644, nil) }, "already closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.add(NewWriter(io.Discard))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestCleanKeepsNamesInsideTheArchive(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/bin/gonest", "bin/gonest"},
		{"bin//gonest", "bin/gonest"},
		{"../../etc/passwd", "etc/passwd"},
		{"./init", "init"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := clean(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestReaderRejects(t *testing.T) {
	valid := func() []byte {
		var buf bytes.Buffer
		w := NewWriter(&buf)
		require.NoError(t, w.File("f", 0o644, []byte("12345678")))
		require.NoError(t, w.Close())
		return buf.Bytes()
	}
	tests := []struct {
		name   string
		mutate func(b []byte) []byte
		want   string
	}{
		{"bad magic", func(b []byte) []byte { b[5] = '2'; return b }, "magic"},
		{"bad hex", func(b []byte) []byte { b[10] = 'z'; return b }, "field 0"},
		{"huge size", func(b []byte) []byte { copy(b[54:62], "7fffffff"); return b }, "over the limit"},
		{"huge name", func(b []byte) []byte { copy(b[94:102], "00100000"); return b }, "name size"},
		{"truncated", func(b []byte) []byte { return b[:115] }, "cpio data of f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tt.mutate(valid())), 1<<10)
			_, err := r.Next()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
