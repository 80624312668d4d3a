package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/diskfiles"
	"github.com/gonest/gonest/internal/syncbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFindDiskBySerial(t *testing.T) {
	sys := t.TempDir()
	for name, serial := range map[string]string{
		"vda": BlkRWSerial + "\n",
		"vdb": BlkROSerial, // no newline: still found
		"vdc": "",
		"sda": "not-a-virtio-disk\n",
	} {
		require.NoError(t, os.MkdirAll(filepath.Join(sys, name), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(sys, name, "serial"), []byte(serial), 0o644))
	}
	tests := []struct {
		serial string
		want   string
		ok     bool
	}{
		{BlkRWSerial, "/dev/vda", true},
		{BlkROSerial, "/dev/vdb", true},
		{"not-a-virtio-disk", "", false}, // only vd* disks are looked at
		{"blk-rw", "", false},            // whole serials only
	}
	for _, tt := range tests {
		t.Run(tt.serial, func(t *testing.T) {
			got, ok := findDiskBySerial(sys, tt.serial)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
	assert.Equal(t, `vda serial="blk-rw.ext4", vdb serial="blk-ro.ext4", vdc serial=""`, listDisks(sys))
	assert.Equal(t, "none", listDisks(t.TempDir()))
}

func TestDiskBySerialTimesOut(t *testing.T) {
	start := time.Now()
	_, err := diskBySerial(context.Background(), "no-such-serial", 100*time.Millisecond)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `no virtio-blk disk with serial "no-such-serial" within 100ms`)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestBlkChildArgs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	env := &Env{Level: "H"}
	args := blkChildArgs(ctx, env, "blk-g1", "/dev/vda,serial=a", "/dev/vdb,ro,serial=b")
	line := strings.Join(args, " ")
	assert.Equal(t, "run", args[0])
	assert.Contains(t, line, "-m "+blkG1Memory+" -kernel "+guestabi.NextKernel+" -initrd "+guestabi.NextInitrd)
	assert.Contains(t, line, "-disk /dev/vda,serial=a -disk /dev/vdb,ro,serial=b -append ")
	assert.Contains(t, line, "-forward")
	assert.Regexp(t, `-timeout 1m(29|30)s`, line, "gonest's own timeout: 90% of the time left")
	appendArg := args[len(args)-1]
	assert.Contains(t, appendArg, guestabi.ParamScenario+"=blk-g1")
	assert.Contains(t, appendArg, guestabi.ParamLevel+"=G1")
	assert.Regexp(t, guestabi.ParamTimeout+`=1m(19|20)s`, appendArg, "G1's own budget: 80%")
}

// TestSigtermChild plays gonest with a shell script: it prints G1's sync
// line and exits as the test case says on SIGTERM (its trap is set before
// the line, so the signal cannot beat it).
func TestSigtermChild(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   guestabi.Verdict
		log    string
	}{
		{"exits 143 on SIGTERM after the sync line",
			`trap 'exit 143' TERM; echo "init: ` + blkSyncedMsg + ` files=200"; while :; do sleep 0.05; done`,
			guestabi.Pass, "gonest exited 143 on SIGTERM"},
		{"exits 0 on SIGTERM",
			`trap 'exit 0' TERM; echo "init: ` + blkSyncedMsg + `"; while :; do sleep 0.05; done`,
			guestabi.Fail, "did not exit 143"},
		{"ends before the sync line",
			`echo "init: something else"; exit 143`,
			guestabi.Fail, "ended before G1 reported its sync"},
		{"the line must start with init:",
			`echo "x init: ` + blkSyncedMsg + `"; exit 1`,
			guestabi.Fail, "ended before G1 reported its sync"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var console syncbuf.Buffer
			env := &Env{Log: slog.New(newConsoleHandler(&console, "init: ")), Console: &console, Level: "H"}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			got := sigtermChild(ctx, env, "sh", "-c", tt.script)
			assert.Equal(t, tt.want, got, console.String())
			assert.Contains(t, console.String(), tt.log)
			assert.Contains(t, console.String(), "[G1] ", "the child's lines carry its level")
			if tt.want != guestabi.Pass {
				assert.Contains(t, console.String(), "----- last ", "a failure repeats the child's tail")
			}
		})
	}
}

func TestExitStatus(t *testing.T) {
	assert.Equal(t, 0, exitStatus(nil))
	assert.Equal(t, -1, exitStatus(os.ErrNotExist))
}

func TestWriteAndCheckFiles(t *testing.T) {
	root := t.TempDir()
	var console bytes.Buffer
	env := &Env{Log: slog.New(newConsoleHandler(&console, "init: ")), Console: &console}
	files := diskfiles.Written(30, 99)
	require.NoError(t, writeFiles(env, root, files))
	assert.Contains(t, console.String(), "init: blk: files written files=30")

	c := &checks{env: env}
	checkFiles(c, root, files, "written files")
	assert.Equal(t, guestabi.Pass, c.verdict())

	// Flip one byte of a non-empty file, remove another: both are caught.
	victim := filepath.Join(root, filepath.FromSlash(files[9].Path))
	data, err := os.ReadFile(victim)
	require.NoError(t, err)
	data[len(data)/2] ^= 0x40
	require.NoError(t, os.WriteFile(victim, data, 0o644))
	require.NoError(t, os.Remove(filepath.Join(root, filepath.FromSlash(files[3].Path))))
	c = &checks{env: env}
	checkFiles(c, root, files, "written files")
	assert.Equal(t, guestabi.Fail, c.verdict())
	assert.Len(t, c.failed, 2)
	assert.Contains(t, console.String(), "bad=2")

	// writeFile never overwrites: O_EXCL.
	assert.Error(t, writeFile(root, files[0], true))
}

func TestCheckKnown(t *testing.T) {
	root := t.TempDir()
	var console bytes.Buffer
	env := &Env{Log: slog.New(newConsoleHandler(&console, "init: ")), Console: &console}
	known := diskfiles.Known()
	require.NoError(t, writeFiles(env, root, known))
	sums, err := os.Create(filepath.Join(root, filepath.FromSlash(diskfiles.SumsFile)))
	require.NoError(t, err)
	require.NoError(t, diskfiles.WriteSums(sums, diskfiles.KnownDir, known))
	require.NoError(t, sums.Close())

	c := &checks{env: env}
	checkKnown(c, root)
	assert.Equal(t, guestabi.Pass, c.verdict(), console.String())

	// A SHA256SUMS from another generator is reported, not trusted.
	require.NoError(t, os.WriteFile(filepath.Join(root, filepath.FromSlash(diskfiles.SumsFile)),
		[]byte(strings.Repeat("00", 32)+"  "+known[0].Name()+"\n"), 0o644))
	c = &checks{env: env}
	checkKnown(c, root)
	assert.Equal(t, guestabi.Fail, c.verdict())
	assert.Contains(t, console.String(), "SHA256SUMS lists other files")
	assert.Contains(t, console.String(), "SHA256SUMS disagrees")

	c = &checks{env: env}
	checkKnown(c, t.TempDir())
	assert.Equal(t, []string{"open the known files' sums"}, c.failed)
}
