package boot

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// fuzzSeeds are the valid synthetic kernels also kept, with junk, in
// testdata/fuzz/FuzzParseKernel.
func fuzzSeeds() map[string][]byte {
	return map[string][]byte{
		"bzimage":     makeBzImage(),
		"bzimage-abs": makeBzImage(func(b []byte) { b[offRelocatable] = 0 }),
		"vmlinux":     makeVmlinux(false),
		"vmlinux-pvh": makeVmlinux(true),
		"junk":        []byte("\x7fELF\x02\x01\x01\x00junk junk junk"),
		"junk-hdrs":   append(make([]byte, 0x1FE), 0x55, 0xAA, 0xEB, 0x66, 'H', 'd', 'r', 'S', 0x0F, 0x02),
	}
}

// FuzzParseKernel feeds arbitrary files to the kernel parser: it must never
// panic, every rejection must be a *FormatError, and what it accepts must
// describe bytes inside the file.
func FuzzParseKernel(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseKernel(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is %T, not a *FormatError", err, err)
			}
			return
		}
		switch k.Format {
		case FormatBzImage:
			h := k.Setup
			if h.KernelOffset+h.KernelSize != int64(len(data)) || h.KernelSize <= 0 {
				t.Fatalf("kernel bytes [%d,+%d) do not end the %d-byte file", h.KernelOffset, h.KernelSize, len(data))
			}
		case FormatELF, FormatPVH:
			for _, s := range k.ELF.Segments {
				if s.Offset < 0 || uint64(s.Offset)+s.FileSize > uint64(len(data)) || s.FileSize > s.MemSize {
					t.Fatalf("segment %+v outside the %d-byte file", s, len(data))
				}
			}
		default:
			t.Fatalf("unknown format %v", k.Format)
		}
	})
}

// TestFuzzCorpus checks the committed seed corpus: each valid seed still
// parses. GONEST_UPDATE_FUZZ_SEEDS=1 rewrites it from fuzzSeeds.
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParseKernel")
	if os.Getenv("GONEST_UPDATE_FUZZ_SEEDS") == "1" {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for name, b := range fuzzSeeds() {
			data := []byte("go test fuzz v1\n[]byte(" + goQuote(b) + ")\n")
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
		}
	}
	for name, b := range fuzzSeeds() {
		got, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err, "seed %s missing; run with GONEST_UPDATE_FUZZ_SEEDS=1", name)
		assert.Equal(t, "go test fuzz v1\n[]byte("+goQuote(b)+")\n", string(got), "seed %s is stale", name)
		_, err = ParseKernel(bytes.NewReader(b), int64(len(b)))
		if name[:4] == "junk" {
			assert.Error(t, err, name)
		} else {
			assert.NoError(t, err, name)
		}
	}
}

// goQuote writes b as a Go interpreted string literal, as the fuzz corpus
// format wants.
func goQuote(b []byte) string {
	var s bytes.Buffer
	s.WriteByte('"')
	for _, c := range b {
		switch {
		case c == '"' || c == '\\':
			s.WriteByte('\\')
			s.WriteByte(c)
		case c >= 0x20 && c < 0x7F:
			s.WriteByte(c)
		default:
			const hex = "0123456789abcdef"
			s.Write([]byte{'\\', 'x', hex[c>>4], hex[c&0xF]})
		}
	}
	s.WriteByte('"')
	return s.String()
}
