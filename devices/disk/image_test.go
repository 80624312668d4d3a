package disk

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newImage writes a size-byte image whose sector i is filled with byte i+1.
func newImage(t *testing.T, size int) string {
	t.Helper()
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i/SectorSize + 1)
	}
	path := filepath.Join(t.TempDir(), "disk.img")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		spec    Spec
		wantErr string
	}{
		{"missing file", Spec{Path: filepath.Join(dir, "nope.img")}, "check the path"},
		{"a directory", Spec{Path: dir, ReadOnly: true}, "not a file or block device"},
		{"a character device", Spec{Path: "/dev/null", ReadOnly: true}, "not a file or block device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.spec, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

func TestOpenLocks(t *testing.T) {
	img := newImage(t, 8*SectorSize)
	rw, err := Open(Spec{Path: img}, nil)
	require.NoError(t, err)
	_, err = Open(Spec{Path: img, Interface: IDE}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "in use by another process")
	_, err = Open(Spec{Path: img, ReadOnly: true}, nil)
	assert.Error(t, err, "a writer excludes readers too")
	require.NoError(t, rw.Close())

	ro1, err := Open(Spec{Path: img, ReadOnly: true}, nil)
	require.NoError(t, err)
	ro2, err := Open(Spec{Path: img, ReadOnly: true}, nil)
	require.NoError(t, err, "readers share")
	_, err = Open(Spec{Path: img}, nil)
	assert.Error(t, err, "no writer while readers hold it")
	require.NoError(t, ro1.Close())
	require.NoError(t, ro2.Close())
}

func TestReadOnlyOpensReadOnly(t *testing.T) {
	img := newImage(t, 8*SectorSize)
	require.NoError(t, os.Chmod(img, 0o444))
	if os.Geteuid() == 0 {
		// root ignores the mode: check the open flags instead.
		im, err := Open(Spec{Path: img, ReadOnly: true}, nil)
		require.NoError(t, err)
		defer im.Close()
		_, err = im.file.Write([]byte{1})
		assert.Error(t, err, "the image is opened O_RDONLY")
		return
	}
	_, err := Open(Spec{Path: img}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "check its permissions, or attach it read-only with ,ro")
	im, err := Open(Spec{Path: img, ReadOnly: true}, nil)
	require.NoError(t, err)
	assert.NoError(t, im.Close())
}

// A file that even root cannot open for writing: the running test binary
// (ETXTBSY). Read-only, it opens.
func TestUnwritableFileNeedsRO(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	_, err = Open(Spec{Path: exe, Interface: IDE}, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "attach it read-only with ,ro")
	im, err := Open(Spec{Path: exe, ReadOnly: true, Interface: IDE}, nil)
	require.NoError(t, err)
	assert.NotZero(t, im.Sectors())
	assert.NoError(t, im.Close())
}

func TestImageReadWriteSyncClose(t *testing.T) {
	path := newImage(t, 8*SectorSize+100)
	im, err := Open(Spec{Path: path}, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(8), im.Sectors(), "the partial last sector is left out")
	assert.Equal(t, int64(8*SectorSize+100), im.Size())
	assert.Equal(t, path, im.Path())
	assert.False(t, im.ReadOnly())

	got := make([]byte, SectorSize)
	require.NoError(t, im.ReadAt(got, 3*SectorSize))
	assert.Equal(t, bytes.Repeat([]byte{4}, SectorSize), got)
	require.NoError(t, im.WriteAt(bytes.Repeat([]byte{0xAB}, SectorSize), 5*SectorSize))
	require.NoError(t, im.Sync())
	assert.Error(t, im.ReadAt(make([]byte, SectorSize), 8*SectorSize), "reading past the end of the file is an error, not a short read")
	require.NoError(t, im.Close())
	require.NoError(t, im.Close(), "Close is idempotent")

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, bytes.Repeat([]byte{0xAB}, SectorSize), b[5*SectorSize:6*SectorSize])
	assert.Equal(t, bytes.Repeat([]byte{5}, SectorSize), b[4*SectorSize:5*SectorSize], "neighbours untouched")
}

func TestReadOnlyImageRefusesWrites(t *testing.T) {
	path := newImage(t, 4*SectorSize)
	im, err := Open(Spec{Path: path, ReadOnly: true}, nil)
	require.NoError(t, err)
	defer im.Close()
	err = im.WriteAt(make([]byte, SectorSize), 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "read-only")
	assert.NoError(t, im.Sync(), "nothing to sync")
}

func TestSerial(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		file   string
		serial string
		want   string
	}{
		{"from the file name", "disk.img", "", "disk.img"},
		{"unsafe characters replaced", "my disk(1).img", "", "my_disk_1_.img"},
		{"long name cut at 20 bytes", "abcdefghijklmnopqrstuvwxyz.img", "", "abcdefghijklmnopqrst"},
		{"explicit", "disk.img", "boot-0001", "boot-0001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.file)
			require.NoError(t, os.WriteFile(p, make([]byte, SectorSize), 0o644))
			im, err := Open(Spec{Path: p, Serial: tt.serial}, nil)
			require.NoError(t, err)
			defer im.Close()
			s := im.Serial()
			assert.Equal(t, tt.want, string(bytes.TrimRight(s[:], "\x00")))
		})
	}
}

func TestInterfaceString(t *testing.T) {
	assert.Equal(t, "virtio", Virtio.String())
	assert.Equal(t, "ide", IDE.String())
	assert.Equal(t, "interface(7)", Interface(7).String())
}
