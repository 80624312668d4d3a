package modfile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/gonest/gonest/images/kmod"
)

// MaxSize bounds an uncompressed module. Debian 6.12's largest module
// (amdgpu) is about 40 MiB; a stream that inflates past this is refused
// instead of filling memory.
const MaxSize = 256 << 20

// Open opens the module file at path as its uncompressed ELF: a plain .ko
// is read in place, a .ko.xz, .ko.zst or .ko.gz is uncompressed into
// memory. It is a kmod.Opener.
func Open(path string) (kmod.File, error) {
	c := kmod.CompressionOf(path)
	if c == "" {
		return kmod.OpenPlain(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The decoders read a byte at a time; unbuffered, the xz one spends
	// two thirds of its time in read(2).
	data, err := Uncompress(c, bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return memFile{bytes.NewReader(data)}, nil
}

// Uncompress reads all of r, compressed as c (".xz", ".zst" or ".gz",
// as kmod.CompressionOf names it), and returns the uncompressed bytes, at
// most MaxSize of them.
func Uncompress(c string, r io.Reader) ([]byte, error) { return uncompress(c, r, MaxSize) }

func uncompress(c string, r io.Reader, limit int) ([]byte, error) {
	var (
		zr  io.Reader
		err error
	)
	switch c {
	case ".xz":
		zr, err = xz.NewReader(r)
	case ".gz":
		var g *gzip.Reader
		if g, err = gzip.NewReader(r); err == nil {
			defer g.Close()
			zr = g
		}
	case ".zst":
		var d *zstd.Decoder
		if d, err = zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(limit)+1)); err == nil {
			defer d.Close()
			zr = d
		}
	default:
		return nil, fmt.Errorf("unknown module compression %q", c)
	}
	if err != nil {
		return nil, fmt.Errorf("uncompress %s: %w", c, err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("uncompress %s: %w", c, err)
	}
	if len(data) > limit {
		return nil, fmt.Errorf("uncompress %s: more than %d bytes; not a kernel module", c, limit)
	}
	return data, nil
}

// memFile is an uncompressed module held in memory.
type memFile struct{ *bytes.Reader }

func (memFile) Close() error { return nil }
