package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeBzImage builds a bzImage header with setupSects sectors of setup code
// and payload placed payloadOff bytes into the protected-mode code.
func fakeBzImage(setupSects byte, version uint16, payloadOff uint32, payload []byte) []byte {
	sects := int(setupSects)
	if sects == 0 {
		sects = 4
	}
	pm := (sects + 1) * 512
	img := make([]byte, pm+int(payloadOff)+len(payload))
	img[offSetupSects] = setupSects
	copy(img[offHeaderMagic:], "HdrS")
	binary.LittleEndian.PutUint16(img[offVersion:], version)
	binary.LittleEndian.PutUint32(img[offPayloadOffset:], payloadOff)
	binary.LittleEndian.PutUint32(img[offPayloadLength:], uint32(len(payload)))
	copy(img[pm+int(payloadOff):], payload)
	return img
}

func TestPayloadRange(t *testing.T) {
	tests := []struct {
		name      string
		img       []byte
		wantStart int
		wantLen   int
		wantErr   string
	}{
		{"typical", fakeBzImage(27, 0x020f, 0x3b0, []byte("payload")), 28*512 + 0x3b0, 7, ""},
		{"setup_sects 0 means 4", fakeBzImage(0, 0x020f, 0, []byte("p")), 5 * 512, 1, ""},
		{"too short", make([]byte, 0x100), 0, 0, "too short"},
		{"no magic", make([]byte, 0x400), 0, 0, "no HdrS magic"},
		{"old protocol", fakeBzImage(1, 0x0206, 0, []byte("p")), 0, 0, "predates"},
		{"payload past the end", func() []byte {
			img := fakeBzImage(1, 0x020f, 0, []byte("p"))
			binary.LittleEndian.PutUint32(img[offPayloadLength:], 0xffffffff)
			return img
		}(), 0, 0, "outside"},
		{"empty payload", fakeBzImage(1, 0x020f, 0, nil), 0, 0, "outside"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, n, err := payloadRange(tt.img)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantStart, start)
			assert.Equal(t, tt.wantLen, n)
		})
	}
}

func TestDecompressor(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    string
	}{
		{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0, 1}, "xz"},
		{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd, 0}, "zstd"},
		{"gzip", []byte{0x1f, 0x8b, 8}, "gzip"},
		{"unknown", []byte("ELF?"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv, err := decompressor(tt.payload)
			if tt.want == "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "unknown payload compression")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, argv[0])
		})
	}
}

func TestVmlinuxFromGzipPayload(t *testing.T) {
	elf := append([]byte("\x7fELF"), bytes.Repeat([]byte("kernel"), 100)...)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, err := zw.Write(elf)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	// Like the kernel build, append the uncompressed size after the stream.
	payload := binary.LittleEndian.AppendUint32(z.Bytes(), uint32(len(elf)))

	dir := t.TempDir()
	in, out := filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "vmlinux")
	require.NoError(t, os.WriteFile(in, fakeBzImage(3, 0x020f, 0x40, payload), 0o644))
	require.NoError(t, runVmlinux([]string{"-from", in, "-to", out}))
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, elf, got)
}

func TestWriteIfChangedKeepsTimestamp(t *testing.T) {
	name := filepath.Join(t.TempDir(), "out")
	write := func(s string) error {
		return writeIfChanged(name, 0o644, func(w io.Writer) error {
			_, err := io.WriteString(w, s)
			return err
		})
	}
	require.NoError(t, write("one"))
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	require.NoError(t, os.Chtimes(name, old, old))

	require.NoError(t, write("one"))
	st, err := os.Stat(name)
	require.NoError(t, err)
	assert.Equal(t, old, st.ModTime(), "same bytes keep the old timestamp")

	require.NoError(t, write("two"))
	st, err = os.Stat(name)
	require.NoError(t, err)
	assert.True(t, st.ModTime().After(old), "new bytes get a new timestamp")
	got, err := os.ReadFile(name)
	require.NoError(t, err)
	assert.Equal(t, "two", string(got))
	left, err := filepath.Glob(filepath.Join(filepath.Dir(name), ".out.*"))
	require.NoError(t, err)
	assert.Empty(t, left, "no temporary files left behind")
}

func TestSplitPair(t *testing.T) {
	tests := []struct {
		in, src, dst, err string
	}{
		{"/a/b:/bin/x", "/a/b", "/bin/x", ""},
		{"c:/weird:name:/x", "c:/weird:name", "/x", ""},
		{"nocolon", "", "", "want SRC:DST"},
		{":/x", "", "", "want SRC:DST"},
		{"/a:", "", "", "want SRC:DST"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			src, dst, err := splitPair("file", tt.in)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.src, src)
			assert.Equal(t, tt.dst, dst)
		})
	}
}

func TestInitramfsListsBaseThenOwnFiles(t *testing.T) {
	dir := t.TempDir()
	// A base archive, like u-root's, holding one file.
	var base bytes.Buffer
	{
		var s spec
		require.NoError(t, os.WriteFile(filepath.Join(dir, "gosh"), []byte("shell"), 0o755))
		s.files = [][2]string{{filepath.Join(dir, "gosh"), "/bbin/gosh"}}
		require.NoError(t, writeSpec(&base, s))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "base.cpio"), base.Bytes(), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "init"), []byte("init!"), 0o755))
	tree := filepath.Join(dir, "mods", "kernel")
	require.NoError(t, os.MkdirAll(tree, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(tree, "kvm.ko"), []byte("ko"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mods", "modules.dep"), []byte("kernel/kvm.ko:\n"), 0o644))

	out := filepath.Join(dir, "initrd")
	require.NoError(t, runInitramfs([]string{"-o", out,
		"-base", filepath.Join(dir, "base.cpio"),
		"-file", filepath.Join(dir, "init") + ":/init",
		"-tree", filepath.Join(dir, "mods") + ":/lib/modules/6.1",
		"-symlink", "/bin/gosh:/bbin/gosh",
	}))

	f, err := os.Open(out)
	require.NoError(t, err)
	defer f.Close()
	var listing bytes.Buffer
	require.NoError(t, list(&listing, f))
	lines := strings.Split(strings.TrimSpace(listing.String()), "\n")
	assert.Equal(t, []string{
		// the base archive
		"040755          0 dev",
		"020600          0 dev/console",
		"040555          0 proc",
		"040555          0 sys",
		"041777          0 tmp",
		"040755          0 run",
		"040700          0 root",
		"040755          0 bbin",
		"100755          5 bbin/gosh",
		// our archive
		"040755          0 dev",
		"020600          0 dev/console",
		"040555          0 proc",
		"040555          0 sys",
		"041777          0 tmp",
		"040755          0 run",
		"040700          0 root",
		"100755          5 init",
		"040755          0 lib",
		"040755          0 lib/modules",
		"040755          0 lib/modules/6.1",
		"040755          0 lib/modules/6.1/kernel",
		"100644          2 lib/modules/6.1/kernel/kvm.ko",
		"100644         15 lib/modules/6.1/modules.dep",
		"040755          0 bin",
		"120777         10 bin/gosh -> /bbin/gosh",
	}, lines)
}

func TestInitramfsUncompressed(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "vmlinuz"), []byte("kernel"), 0o644))
	out := filepath.Join(dir, "next.cpio")
	require.NoError(t, runInitramfs([]string{"-o", out, "-compress", "none",
		"-file", filepath.Join(dir, "vmlinuz") + ":/images/next/vmlinuz"}))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, "070701", string(b[:6]), "a plain newc archive, which the kernel takes as a second initrd")
	var listing bytes.Buffer
	require.NoError(t, list(&listing, bytes.NewReader(b)))
	assert.Contains(t, listing.String(), "100644          6 images/next/vmlinuz\n")

	err = runInitramfs([]string{"-o", out, "-compress", "xz"})
	assert.EqualError(t, err, `-compress "xz": use gzip or none`)
}
