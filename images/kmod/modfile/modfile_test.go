package modfile

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ulikunitz/xz"

	"github.com/gonest/gonest/images/kmod"
	"github.com/gonest/gonest/images/kmod/kmodtest"
)

// compress returns data compressed as c, the way kernels install modules
// (xz with CRC32 checks, as scripts/Makefile.modinst asks for).
func compress(t testing.TB, c string, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	var w io.WriteCloser
	var err error
	switch c {
	case ".xz":
		w, err = xz.WriterConfig{CheckSum: xz.CRC32}.NewWriter(&b)
	case ".zst":
		w, err = zstd.NewWriter(&b)
	case ".gz":
		w = gzip.NewWriter(&b)
	default:
		t.Fatalf("compression %q", c)
	}
	require.NoError(t, err)
	_, err = w.Write(data)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return b.Bytes()
}

func TestUncompressRoundTrips(t *testing.T) {
	data := bytes.Repeat([]byte("\x7fELF module bytes "), 1000)
	for _, c := range []string{".xz", ".zst", ".gz"} {
		t.Run(c, func(t *testing.T) {
			got, err := Uncompress(c, bytes.NewReader(compress(t, c, data)))
			require.NoError(t, err)
			assert.Equal(t, data, got)
		})
	}
}

func TestUncompressRefuses(t *testing.T) {
	tests := []struct {
		name  string
		c     string
		data  []byte
		limit int
		want  string
	}{
		{"unknown compression", ".bz2", []byte("x"), MaxSize, `unknown module compression ".bz2"`},
		{"not xz", ".xz", []byte("plain text, no xz header"), MaxSize, "uncompress .xz:"},
		{"not zstd", ".zst", []byte("plain text, no zstd frame"), MaxSize, "uncompress .zst:"},
		{"not gzip", ".gz", []byte("plain text"), MaxSize, "uncompress .gz:"},
		{"truncated", ".xz", compress(t, ".xz", bytes.Repeat([]byte{1, 2, 3}, 5000))[:40], MaxSize, "uncompress .xz:"},
		{"inflates past the limit", ".xz", compress(t, ".xz", make([]byte, 4096)), 1024,
			"uncompress .xz: more than 1024 bytes; not a kernel module"},
		{"zstd past the limit", ".zst", compress(t, ".zst", make([]byte, 4096)), 1024, "uncompress .zst:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := uncompress(tt.c, bytes.NewReader(tt.data), tt.limit)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// A tree mixing plain and compressed modules, as Debian 6.12 ships them
// (.ko.xz), scans like a plain one, and the images get plain .ko files
// with a modules.dep naming them.
func TestScanAndWriteCompressedTree(t *testing.T) {
	src := t.TempDir()
	type mod struct {
		file   string
		fields []string
	}
	mods := []mod{
		{"kernel/virt/lib/irqbypass.ko.zst", []string{"name=irqbypass"}},
		{"kernel/arch/x86/kvm/kvm.ko.xz", []string{"name=kvm", "depends=irqbypass"}},
		{"kernel/drivers/crypto/ccp/ccp.ko.gz", []string{"name=ccp"}},
		{"kernel/arch/x86/kvm/kvm-amd.ko.xz", []string{"name=kvm_amd", "depends=kvm,ccp"}},
		{"kernel/drivers/block/virtio_blk.ko", []string{"name=virtio_blk"}},
	}
	files := map[string][]byte{}
	for _, m := range mods {
		elf := kmodtest.ModuleELF(t, m.fields...)
		if c := kmod.CompressionOf(m.file); c != "" {
			elf = compress(t, c, elf)
		}
		files[m.file] = elf
	}
	kmodtest.WriteFiles(t, src, files)

	ix, err := kmod.ScanTree(src, Open)
	require.NoError(t, err)
	got, err := ix.Closure([]string{"kvm_amd", "virtio_blk"})
	require.NoError(t, err)
	var paths, srcs []string
	for _, m := range got {
		paths = append(paths, m.Path)
		srcs = append(srcs, m.Src)
	}
	assert.Equal(t, []string{"kernel/virt/lib/irqbypass.ko", "kernel/arch/x86/kvm/kvm.ko", "kernel/drivers/crypto/ccp/ccp.ko",
		"kernel/arch/x86/kvm/kvm-amd.ko", "kernel/drivers/block/virtio_blk.ko"}, paths)
	assert.Equal(t, []string{"kernel/virt/lib/irqbypass.ko.zst", "kernel/arch/x86/kvm/kvm.ko.xz", "kernel/drivers/crypto/ccp/ccp.ko.gz",
		"kernel/arch/x86/kvm/kvm-amd.ko.xz", ""}, srcs)

	dst := t.TempDir()
	require.NoError(t, ix.WriteTree(src, dst, got, Open))
	for _, m := range mods {
		data, err := os.ReadFile(filepath.Join(dst, strings.TrimSuffix(m.file, kmod.CompressionOf(m.file))))
		require.NoError(t, err)
		assert.Equal(t, kmodtest.ModuleELF(t, m.fields...), data, "%s stored uncompressed", m.file)
	}
	dep, err := os.ReadFile(filepath.Join(dst, kmod.DepFile))
	require.NoError(t, err)
	assert.Contains(t, string(dep), "kernel/arch/x86/kvm/kvm-amd.ko: kernel/drivers/crypto/ccp/ccp.ko kernel/arch/x86/kvm/kvm.ko kernel/virt/lib/irqbypass.ko\n")

	// Without the decompressors, the scan says what is wrong.
	_, err = kmod.ScanTree(src, nil)
	assert.ErrorIs(t, err, kmod.ErrCompressed)
}

func TestOpenNamesTheBrokenFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "kvm.ko.xz")
	require.NoError(t, os.WriteFile(p, []byte("not xz"), 0o644))
	_, err := Open(p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), p+": uncompress .xz:")
}

func FuzzUncompress(f *testing.F) {
	data := kmodtest.ModuleELF(f, "name=kvm", "depends=irqbypass")
	for _, c := range []string{".xz", ".zst", ".gz"} {
		f.Add(c, compress(f, c, data))
	}
	f.Fuzz(func(t *testing.T, c string, in []byte) {
		out, err := uncompress(c, bytes.NewReader(in), 1<<20)
		if err == nil {
			assert.LessOrEqual(t, len(out), 1<<20)
		}
	})
}
