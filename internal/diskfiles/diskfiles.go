package diskfiles

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"strings"
)

// Directories and files of the test disk, relative to its root.
const (
	// KnownDir holds the files the images pipeline puts on disk.ext4.
	KnownDir = "known"
	// SumsFile lists KnownDir's files in sha256sum(1) format, relative to
	// KnownDir, so `cd known && sha256sum -c SHA256SUMS` checks them.
	SumsFile = KnownDir + "/SHA256SUMS"
	// WrittenDir holds the files G1 writes and syncs.
	WrittenDir = "written"
	// UnsyncedDir holds files G1 keeps writing after it reported its sync,
	// until gonest is killed (the SIGTERM run); nothing is promised about them.
	UnsyncedDir = "unsynced"
)

// File names of the lab's copies of disk.ext4, which are also their
// virtio serials (lab.Config.Disks), so that H and G1 find each by name.
const (
	RWDiskName = "blk-rw.ext4" // written by G1
	RODiskName = "blk-ro.ext4" // attached read-only; must stay unchanged
)

// The written set the lab scenarios use.
const (
	WrittenCount = 200                // files G1 writes
	WrittenSeed  = 0x676f6e6573742d32 // "gonest-2"
	MaxSize      = 1 << 20            // the largest generated file
	knownSeed    = 0x6b6e6f776e2d3031 // "known-01"
	unsyncedSeed = 0x756e73796e636564 // "unsynced"
	// UnsyncedSize is the size of each unsynced file.
	UnsyncedSize = 256 << 10
)

// File is one generated file.
type File struct {
	Path string // slash-separated, relative to the file system root
	Size int64
	Seed uint64
}

// edgeSizes come first in every set: empty, one byte, around a sector and
// a page, and the maximum.
var edgeSizes = []int64{0, 1, 511, 512, 513, 4095, 4096, 4097, 65536, MaxSize}

// Known returns the files the images pipeline puts under KnownDir.
func Known() []File {
	return generate(KnownDir, 16, knownSeed)
}

// Written returns the n files G1 writes under WrittenDir, from seed.
func Written(n int, seed uint64) []File {
	return generate(WrittenDir, n, seed)
}

// Unsynced returns the i-th file G1 writes after its sync in the SIGTERM
// run.
func Unsynced(i int) File {
	return File{
		Path: fmt.Sprintf("%s/%05d.bin", UnsyncedDir, i),
		Size: UnsyncedSize,
		Seed: mix(unsyncedSeed + uint64(i)),
	}
}

// generate makes n files in dir: the edge sizes first, then sizes spread
// evenly over the powers of two up to MaxSize (log-uniform), so most files
// are small and a few are large, like a real tree.
func generate(dir string, n int, seed uint64) []File {
	files := make([]File, n)
	state := seed
	for i := range files {
		var size int64
		if i < len(edgeSizes) {
			size = edgeSizes[i]
		} else {
			r := splitmix(&state)
			bits := r%20 + 1                   // 1..20
			size = int64(r>>8) & (1<<bits - 1) // 0 .. 2^bits-1
		}
		files[i] = File{
			Path: fmt.Sprintf("%s/%03d-%d.bin", dir, i, size),
			Size: size,
			Seed: mix(seed + uint64(i)),
		}
	}
	return files
}

// splitmix advances state and returns the next SplitMix64 output.
func splitmix(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	return mix(*state)
}

// mix is SplitMix64's output function.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// Reader returns f's contents as a stream.
func (f File) Reader() io.Reader {
	return &contents{state: f.Seed, left: f.Size}
}

// Bytes returns f's contents.
func (f File) Bytes() []byte {
	b := make([]byte, f.Size)
	fill(b, f.Seed)
	return b
}

// Sum returns the SHA-256 of f's contents.
func (f File) Sum() [sha256.Size]byte {
	h := sha256.New()
	// A hash.Hash never returns a write error.
	_, _ = io.Copy(h, f.Reader())
	var s [sha256.Size]byte
	h.Sum(s[:0])
	return s
}

// Name returns the last element of f's path.
func (f File) Name() string { return path.Base(f.Path) }

// fill writes the stream from seed into b.
func fill(b []byte, seed uint64) {
	r := contents{state: seed, left: int64(len(b))}
	// contents.Read fills all of b while left covers it.
	_, _ = r.Read(b)
}

// contents streams SplitMix64 words, little endian.
type contents struct {
	state uint64
	left  int64
	word  [8]byte
	have  int // unread bytes at the end of word
}

func (c *contents) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), c.left)]
	n := 0
	for n < len(p) {
		if c.have == 0 {
			if len(p)-n >= 8 { // whole words straight into p
				binary.LittleEndian.PutUint64(p[n:], splitmix(&c.state))
				n += 8
				continue
			}
			binary.LittleEndian.PutUint64(c.word[:], splitmix(&c.state))
			c.have = 8
		}
		k := copy(p[n:], c.word[8-c.have:])
		c.have -= k
		n += k
	}
	c.left -= int64(n)
	return n, nil
}

// WriteSums writes files' checksums in sha256sum(1) format, with paths
// relative to dir.
func WriteSums(w io.Writer, dir string, files []File) error {
	bw := bufio.NewWriter(w)
	for _, f := range files {
		rel := strings.TrimPrefix(f.Path, dir+"/")
		s := f.Sum()
		fmt.Fprintf(bw, "%s  %s\n", hex.EncodeToString(s[:]), rel)
	}
	return bw.Flush()
}

// ParseSums reads sha256sum(1) output: one "HEX  NAME" per line.
func ParseSums(r io.Reader) (map[string][sha256.Size]byte, error) {
	sums := map[string][sha256.Size]byte{}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		hexSum, name, ok := strings.Cut(sc.Text(), "  ")
		b, err := hex.DecodeString(hexSum)
		if !ok || err != nil || len(b) != sha256.Size || name == "" {
			return nil, fmt.Errorf("sums line %d: want \"<64 hex digits>  <name>\", got %q", line, sc.Text())
		}
		if _, dup := sums[name]; dup {
			return nil, fmt.Errorf("sums line %d: %s listed twice", line, name)
		}
		sums[name] = [sha256.Size]byte(b)
	}
	return sums, sc.Err()
}

// Check reads r to its end and returns nil when it holds exactly f's
// contents, or an error naming the first byte that differs.
func (f File) Check(r io.Reader) error {
	want := f.Reader()
	var wb, gb [64 << 10]byte
	var off int64
	for {
		gn, gerr := io.ReadFull(r, gb[:])
		if gerr != nil && gerr != io.EOF && gerr != io.ErrUnexpectedEOF {
			return fmt.Errorf("%s: read at %d: %w", f.Path, off, gerr)
		}
		wn, _ := io.ReadFull(want, wb[:gn])
		for i := range wn {
			if gb[i] != wb[i] {
				return fmt.Errorf("%s: byte %d is %#02x, want %#02x", f.Path, off+int64(i), gb[i], wb[i])
			}
		}
		off += int64(wn)
		if wn < gn {
			return fmt.Errorf("%s: longer than its %d bytes", f.Path, f.Size)
		}
		if gerr != nil { // r ended
			if off != f.Size {
				return fmt.Errorf("%s: %d bytes, want %d", f.Path, off, f.Size)
			}
			return nil
		}
	}
}
