package diskfiles

import (
	"bytes"
	"crypto/sha256"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestContentsAreStableAcrossReads(t *testing.T) {
	f := File{Path: "x", Size: 4099, Seed: 7}
	whole := f.Bytes()
	require.Len(t, whole, 4099)
	// One byte at a time must give the same stream as whole words.
	got, err := io.ReadAll(iotest.OneByteReader(f.Reader()))
	require.NoError(t, err)
	assert.Equal(t, whole, got)
	assert.Equal(t, sha256.Sum256(whole), f.Sum())
	// SplitMix64's published first output for state 0 is 0xe220a8397b1dcdaf.
	assert.Equal(t, []byte{0xaf, 0xcd, 0x1d, 0x7b, 0x39, 0xa8, 0x20, 0xe2},
		File{Size: 8, Seed: 0}.Bytes(), "little-endian SplitMix64 words")
	assert.NotEqual(t, whole, File{Path: "x", Size: 4099, Seed: 8}.Bytes(), "the seed changes the contents")
}

// TestGoldenSums pins the generator: the images built by an older gonest
// must still verify, so a change here is a deliberate format change.
func TestGoldenSums(t *testing.T) {
	var b strings.Builder
	require.NoError(t, WriteSums(&b, KnownDir, Known()[:4]))
	assert.Equal(t, goldenKnown, b.String())
}

const goldenKnown = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  000-0.bin\n" +
	"2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6  001-1.bin\n" +
	"9bea5440362aec687cf3f08db6585eef7fd336463686d221afd3d0bcd60988f1  002-511.bin\n" +
	"fd921c74e68f46d9fee850ffd05686fd3b9cd6f49d6f37b358291a7948da3adf  003-512.bin\n"

func TestSetsAreMixedAndDeterministic(t *testing.T) {
	w := Written(WrittenCount, WrittenSeed)
	require.Len(t, w, WrittenCount)
	assert.Equal(t, w, Written(WrittenCount, WrittenSeed))
	var total int64
	small, large := 0, 0
	names := map[string]bool{}
	for i, f := range w {
		assert.True(t, strings.HasPrefix(f.Path, WrittenDir+"/"), f.Path)
		assert.False(t, names[f.Path], "duplicate %s", f.Path)
		names[f.Path] = true
		assert.LessOrEqual(t, f.Size, int64(MaxSize))
		if i < len(edgeSizes) {
			assert.Equal(t, edgeSizes[i], f.Size)
		}
		if f.Size < 4096 {
			small++
		}
		if f.Size >= 256<<10 {
			large++
		}
		total += f.Size
	}
	assert.Greater(t, small, 20, "many small files")
	assert.Greater(t, large, 5, "some large files")
	assert.Less(t, total, int64(24<<20), "the set must fit the 64 MiB test disk with room for the SIGTERM run")
	assert.NotEqual(t, Known()[20%len(Known())].Seed, w[20%len(Known())].Seed, "known and written differ")
	assert.Equal(t, "unsynced/00003.bin", Unsynced(3).Path)
	assert.Equal(t, int64(UnsyncedSize), Unsynced(3).Size)
}

func TestCheck(t *testing.T) {
	f := File{Path: "d/f", Size: 70000, Seed: 3}
	good := f.Bytes()
	flipped := bytes.Clone(good)
	flipped[65537] ^= 1
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"exact", good, ""},
		{"flipped byte", flipped, "byte 65537"},
		{"short", good[:69999], "69999 bytes, want 70000"},
		{"long", append(bytes.Clone(good), 0), "longer than its 70000 bytes"},
		{"empty", nil, "0 bytes, want 70000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.Check(bytes.NewReader(tt.data))
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Contains(t, err.Error(), "d/f")
		})
	}
	assert.NoError(t, File{Path: "e", Size: 0, Seed: 1}.Check(strings.NewReader("")))
	assert.Error(t, File{Path: "e", Size: 0, Seed: 1}.Check(strings.NewReader("x")))
}

func TestSumsRoundTrip(t *testing.T) {
	files := Known()
	var b bytes.Buffer
	require.NoError(t, WriteSums(&b, KnownDir, files))
	sums, err := ParseSums(&b)
	require.NoError(t, err)
	require.Len(t, sums, len(files))
	for _, f := range files {
		assert.Equal(t, f.Sum(), sums[f.Name()], f.Path)
	}
}

func TestParseSumsRejects(t *testing.T) {
	for name, in := range map[string]string{
		"one space": strings.Repeat("ab", 32) + " x\n",
		"short hex": "abcd  x\n",
		"not hex":   strings.Repeat("zz", 32) + "  x\n",
		"no name":   strings.Repeat("ab", 32) + "  \n",
		"duplicate": strings.Repeat("ab", 32) + "  x\n" + strings.Repeat("cd", 32) + "  x\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSums(strings.NewReader(in))
			assert.Error(t, err)
		})
	}
}
