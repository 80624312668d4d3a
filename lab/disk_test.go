package lab_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/diskfiles"
	"github.com/gonest/gonest/lab"
	"github.com/gonest/gonest/lab/labtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The virtio-blk lab tests prove gonest's disk with Linux on
// both sides: H hands its own virtio block devices (/dev/vdX) to gonest,
// G1 mounts, checks and writes ext4 through gonest's virtio-blk, and this
// test reads the images back on this machine after QEMU exits, with
// e2fsprogs (e2fsck, debugfs: no root, no loop device).

// TestLabBlk is the integrity run: G1 checks disk.ext4's known files,
// writes the 200 files of diskfiles.Written, syncs, unmounts, reads them
// back, checks that the ,ro disk refuses writes, and times reads. Here:
// e2fsck -fn is clean, every file matches, the ro image is unchanged.
func TestLabBlk(t *testing.T) {
	img := labtest.Images(t)
	dir := t.TempDir()
	rw := copyImage(t, img.Disk, filepath.Join(dir, diskfiles.RWDiskName))
	ro := copyImage(t, img.Disk, filepath.Join(dir, diskfiles.RODiskName))
	roBefore := fileSum(t, ro)

	res, log := runLab(t, lab.Config{Scenario: "blk", Disks: []string{rw, ro}, WritableDisks: true,
		Timeout: 8 * time.Minute, Append: "gonest.timeout=7m"})
	require.Equal(t, guestabi.Pass, res.Verdict, "G1's checks failed:\n%s", errorLines(log))
	t.Logf("blk run: %.1fs", res.Duration.Seconds())
	for _, l := range regexp.MustCompile(`(?m)^\[H\] \[G1\] init: blk: (sequential read|files written|written files read back|.*refused).*$`).FindAllString(log, -1) {
		t.Log(l)
	}

	assert.Equal(t, roBefore, fileSum(t, ro), "the read-only disk's image changed")
	out, err := e2fsck(t, "-fn", rw)
	assert.NoError(t, err, "e2fsck -fn must find the written file system clean:\n%s", out)
	checkImageFiles(t, rw, filepath.Join(dir, "dump"), true)
}

// TestLabBlkSigterm kills gonest with SIGTERM right after G1 reports that
// sync(2) returned, while G1 keeps writing. "Nothing synced is lost"
// means, precisely: once the ext4 journal is replayed (what the kernel
// does at the next mount; e2fsck -E journal_only here), the file system
// is consistent without any repair (e2fsck -fn exits 0), and every file
// G1 wrote before its sync returned, and every known file, holds exactly
// its bytes. The files written after the sync may or may not be there.
func TestLabBlkSigterm(t *testing.T) {
	img := labtest.Images(t)
	dir := t.TempDir()
	rw := copyImage(t, img.Disk, filepath.Join(dir, diskfiles.RWDiskName))

	res, log := runLab(t, lab.Config{Scenario: "blk-sigterm", Disks: []string{rw}, WritableDisks: true,
		Timeout: 6 * time.Minute, Append: "gonest.timeout=5m"})
	require.Equal(t, guestabi.Pass, res.Verdict, "H: gonest did not exit 143 after G1's sync, or G1 failed:\n%s", errorLines(log))
	t.Logf("blk-sigterm run: %.1fs", res.Duration.Seconds())

	out, err := e2fsck(t, "-y", "-E", "journal_only", rw)
	if err != nil {
		require.Equal(t, 1, exitCode(err), "journal replay: e2fsck exits 0 or 1 (file system modified):\n%s", out)
	}
	t.Logf("journal replay (e2fsck -y -E journal_only):\n%s", out)
	out, err = e2fsck(t, "-fn", rw)
	assert.NoError(t, err, "after the journal replay the file system must be consistent without repair:\n%s", out)
	checkImageFiles(t, rw, filepath.Join(dir, "dump"), false)
}

// checkImageFiles dumps the image's files with debugfs and compares them
// with the generated ones: the known files and the written ones, and with
// complete also no unsynced ones.
func checkImageFiles(t *testing.T, image, dump string, complete bool) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dump, 0o755))
	cmds := "rdump /" + diskfiles.KnownDir + " " + dump + "\nrdump /" + diskfiles.WrittenDir + " " + dump + "\n"
	cmd := exec.Command(e2tool(t, "debugfs"), "-f", "-", image)
	cmd.Stdin = strings.NewReader(cmds)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "debugfs rdump:\n%s", out)

	want := append(diskfiles.Known(), diskfiles.Written(diskfiles.WrittenCount, diskfiles.WrittenSeed)...)
	bad := 0
	for _, f := range want {
		r, err := os.Open(filepath.Join(dump, filepath.FromSlash(f.Path)))
		if err == nil {
			err = f.Check(r)
			r.Close()
		}
		if !assert.NoError(t, err, "file on the image after the run") {
			if bad++; bad >= 10 {
				t.Fatalf("stopping after %d bad files (debugfs said:\n%s)", bad, out)
			}
		}
	}
	written, err := os.ReadDir(filepath.Join(dump, diskfiles.WrittenDir))
	require.NoError(t, err)
	assert.Len(t, written, diskfiles.WrittenCount, "no extra files in /%s", diskfiles.WrittenDir)
	t.Logf("%d known and %d written files match their checksums", len(diskfiles.Known()), diskfiles.WrittenCount)

	ls := exec.Command(e2tool(t, "debugfs"), "-R", "ls -p /"+diskfiles.UnsyncedDir, image)
	lsOut, _ := ls.CombinedOutput()
	n := strings.Count(string(lsOut), ".bin/")
	if complete {
		assert.Zero(t, n, "the integrity run writes no unsynced files")
	} else {
		t.Logf("%d of the unsynced files (written after the sync, then SIGTERM) are on the image", n)
	}
}

// copyImage copies the built disk so the run can write it.
func copyImage(t *testing.T, src, dst string) string {
	t.Helper()
	in, err := os.Open(src)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.Create(dst)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
	return dst
}

func fileSum(t *testing.T, path string) [sha256.Size]byte {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	require.NoError(t, err)
	return [sha256.Size]byte(h.Sum(nil))
}

// e2fsck runs e2fsck with args and returns its output; err is an
// *exec.ExitError for a non-zero status.
func e2fsck(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(e2tool(t, "e2fsck"), args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("run e2fsck: %v", err)
	}
	return out.String(), err
}

func exitCode(err error) int {
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode()
	}
	return -1
}

// e2tool finds an e2fsprogs program; the images pipeline needs the same
// package (mke2fs), so its absence is a broken setup, not a skip.
func e2tool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	t.Fatalf("%s not found: install e2fsprogs (`make host-tools` as root, or apt-get install -y e2fsprogs)", name)
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// errorLines picks every level's ERROR lines out of a lab log.
func errorLines(log string) string {
	return strings.Join(regexp.MustCompile(`(?m)^\[H\] (\[G1\] )?init: ERROR .*$`).FindAllString(log, -1), "\n")
}
