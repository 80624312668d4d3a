package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gonest/gonest/guest/initkit"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/diskfiles"
	"golang.org/x/sys/unix"
)

// Where G1 mounts the test disks.
const (
	blkRWMount = "/mnt/blk-rw"
	blkROMount = "/mnt/blk-ro"
	// blkUnsyncedMax bounds the SIGTERM run's unsynced writes (64 x 256 KiB),
	// well inside the 64 MiB disk.
	blkUnsyncedMax = 64
	// blkReadChunk is the O_DIRECT read size of the throughput pass.
	blkReadChunk = 1 << 20
)

// checks collects failed checks, so one run reports all of them.
type checks struct {
	env    *Env
	failed []string
}

func (c *checks) fail(what string, args ...any) {
	c.env.Log.Error(what, args...)
	c.failed = append(c.failed, what)
}

func (c *checks) verdict() guestabi.Verdict {
	if len(c.failed) > 0 {
		c.env.Log.Error("blk: checks failed", "count", len(c.failed), "checks", strings.Join(c.failed, "; "))
		return guestabi.Fail
	}
	return guestabi.Pass
}

// runBlkGuest is G1's side of the virtio-blk integrity run (H: runBlk).
// Through gonest's virtio-blk it:
//   - checks the known files of the read-write disk against SHA256SUMS;
//   - writes the 200 files of diskfiles.Written, syncs and unmounts;
//   - mounts again (cold cache, every byte read through the device) and
//     checks every file;
//   - checks that the read-only disk refuses writes: a read-write mount,
//     a write(2) and a BLKZEROOUT, the last reaching the device itself;
//   - times an O_DIRECT sequential read of the whole read-write disk.
func runBlkGuest(ctx context.Context, env *Env) guestabi.Verdict {
	c := &checks{env: env}
	rw, ro := testDisk(ctx, env, BlkRWSerial), testDisk(ctx, env, BlkROSerial+",ro")
	if rw == "" || ro == "" {
		return guestabi.SetupError
	}
	env.Log.Info("blk: disks found by serial", "rw", rw, "ro", ro)
	checkROFlag(c, rw, "0")
	checkROFlag(c, ro, "1")

	written := diskfiles.Written(diskfiles.WrittenCount, diskfiles.WrittenSeed)
	if err := mountExt4(rw, blkRWMount, 0); err != nil {
		c.fail("mount the read-write disk", "err", err)
		return c.verdict()
	}
	checkKnown(c, blkRWMount)
	if err := writeFiles(env, blkRWMount, written); err != nil {
		c.fail("write the files", "err", err)
	}
	start := time.Now()
	unix.Sync()
	env.Log.Info("blk sync returned", "took", time.Since(start).Round(time.Millisecond))
	if err := unix.Unmount(blkRWMount, 0); err != nil {
		c.fail("unmount the read-write disk", "err", err)
		return c.verdict()
	}
	// After the unmount nothing of the disk is cached in G1: every byte
	// checked now came through virtio-blk.
	if err := mountExt4(rw, blkRWMount, unix.MS_RDONLY); err != nil {
		c.fail("mount the read-write disk again", "err", err)
	} else {
		checkKnown(c, blkRWMount)
		checkFiles(c, blkRWMount, written, "written files read back")
		if err := unix.Unmount(blkRWMount, 0); err != nil {
			c.fail("unmount the read-write disk", "err", err)
		}
	}
	checkReadOnlyDisk(c, ro)
	for _, pass := range []string{"first", "second"} {
		if err := readThroughput(env, rw, pass); err != nil {
			c.fail("sequential read of the disk", "err", err)
		}
	}
	return c.verdict()
}

// testDisk finds a test disk by the serial H gave it ("SERIAL" or
// "SERIAL,ro" for how H passes it), logging how to pass it when it is
// missing.
func testDisk(ctx context.Context, env *Env, how string) string {
	serial, _, _ := strings.Cut(how, ",")
	dev, err := initkit.DiskBySerial(ctx, serial, diskWaitTime)
	if err != nil {
		env.Log.Error("no test disk "+serial+"; H passes it with -disk DEV,serial="+how, "err", err)
	}
	return dev
}

// runBlkGuestSigterm is G1's side of the SIGTERM run (H: runBlkSigterm):
// it writes and syncs the 200 files, sends eventBlkSynced, then writes
// unsynced files until gonest is killed. It passes only if it is not
// killed, which is H's failure.
func runBlkGuestSigterm(ctx context.Context, env *Env) guestabi.Verdict {
	c := &checks{env: env}
	rw := testDisk(ctx, env, BlkRWSerial)
	if rw == "" {
		return guestabi.SetupError
	}
	if err := mountExt4(rw, blkRWMount, 0); err != nil {
		c.fail("mount the read-write disk", "err", err)
		return c.verdict()
	}
	checkKnown(c, blkRWMount)
	written := diskfiles.Written(diskfiles.WrittenCount, diskfiles.WrittenSeed)
	if err := writeFiles(env, blkRWMount, written); err != nil {
		c.fail("write the files", "err", err)
	}
	if len(c.failed) > 0 {
		return c.verdict() // H never hears of the sync and fails too
	}
	start := time.Now()
	unix.Sync()
	took := time.Since(start).Round(time.Millisecond)
	env.Log.Info("blk sync returned", "files", len(written), "took", took)
	// Keep the device busy so that SIGTERM lands in the middle of writes.
	dir := filepath.Join(blkRWMount, diskfiles.UnsyncedDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.fail("create the unsynced directory", "err", err)
	}
	// Each file is fsynced, so that data and journal writes are in flight
	// when SIGTERM arrives, not just sitting in G1's page cache. The event
	// leaves once the first of them is on its way: a message reaches H at
	// once, and H's SIGTERM would otherwise beat the writes.
	for i := 0; i < blkUnsyncedMax && ctx.Err() == nil; i++ {
		if err := writeFile(blkRWMount, diskfiles.Unsynced(i), true); err != nil {
			c.fail("write an unsynced file", "err", err)
			break
		}
		if i == 0 {
			env.Event(eventBlkSynced, "files", strconv.Itoa(len(written)), "took", took.String())
		}
	}
	env.Log.Info("blk: unsynced files written; waiting for SIGTERM to end gonest")
	<-ctx.Done()
	c.fail("gonest was not stopped after the sync line; H should have sent SIGTERM")
	return c.verdict()
}

// mountExt4 mounts dev as ext4 at dir.
func mountExt4(dev, dir string, flags uintptr) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(dev, dir, "ext4", flags, ""); err != nil {
		return fmt.Errorf("mount %s on %s: %w", dev, dir, err)
	}
	return nil
}

// checkROFlag checks /sys/block/NAME/ro, which virtio_blk sets from
// VIRTIO_BLK_F_RO.
func checkROFlag(c *checks, dev, want string) {
	b, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), "ro"))
	if err != nil || strings.TrimSpace(string(b)) != want {
		c.fail("disk read-only flag", "device", dev, "ro", strings.TrimSpace(string(b)), "want", want, "err", err)
	}
}

// checkKnown checks the pipeline's known files under root: SHA256SUMS
// lists exactly diskfiles.Known, and each file holds its bytes.
func checkKnown(c *checks, root string) {
	f, err := os.Open(filepath.Join(root, filepath.FromSlash(diskfiles.SumsFile)))
	if err != nil {
		c.fail("open the known files' sums", "err", err)
		return
	}
	sums, err := diskfiles.ParseSums(f)
	f.Close()
	if err != nil {
		c.fail("read the known files' sums", "err", err)
		return
	}
	known := diskfiles.Known()
	if len(sums) != len(known) {
		c.fail("SHA256SUMS lists other files than this gonest-init knows; rebuild the images", "listed", len(sums), "known", len(known))
	}
	for _, k := range known {
		if sums[k.Name()] != k.Sum() {
			c.fail("SHA256SUMS disagrees with this gonest-init; rebuild the images", "file", k.Path)
		}
	}
	checkFiles(c, root, known, "known files")
}

// checkFiles compares each file under root with its generated contents.
func checkFiles(c *checks, root string, files []diskfiles.File, what string) {
	start := time.Now()
	var bytes int64
	bad := 0
	for _, f := range files {
		if err := checkFile(root, f); err != nil {
			bad++
			if bad <= 5 {
				c.fail(what+": file differs", "err", err)
			}
			continue
		}
		bytes += f.Size
	}
	if bad > 5 {
		c.fail(what+": more files differ", "count", bad)
	}
	c.env.Log.Info("blk: "+what+" checked", "files", len(files), "bad", bad, "bytes", bytes,
		"took", time.Since(start).Round(time.Millisecond))
}

func checkFile(root string, f diskfiles.File) error {
	r, err := os.Open(filepath.Join(root, filepath.FromSlash(f.Path)))
	if err != nil {
		return err
	}
	defer r.Close()
	return f.Check(r)
}

// writeFiles writes files under root and logs the rate.
func writeFiles(env *Env, root string, files []diskfiles.File) error {
	if err := os.MkdirAll(filepath.Join(root, path.Dir(files[0].Path)), 0o755); err != nil {
		return err
	}
	start := time.Now()
	var total int64
	for _, f := range files {
		if err := writeFile(root, f, false); err != nil {
			return err
		}
		total += f.Size
	}
	took := time.Since(start)
	env.Log.Info("blk: files written", "files", len(files), "bytes", total, "took", took.Round(time.Millisecond))
	return nil
}

// writeFile creates f under root, fsyncing it if asked.
func writeFile(root string, f diskfiles.File, fsync bool) error {
	w, err := os.OpenFile(filepath.Join(root, filepath.FromSlash(f.Path)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, f.Reader()); err != nil {
		w.Close()
		return fmt.Errorf("write %s: %w", f.Path, err)
	}
	if fsync {
		if err := w.Sync(); err != nil {
			w.Close()
			return fmt.Errorf("fsync %s: %w", f.Path, err)
		}
	}
	return w.Close()
}

// checkReadOnlyDisk checks that nothing can write the read-only disk:
// mounting it read-write fails; mounted read-only its known files read
// back; and if the kernel lets it be opened for writing, write(2) and
// BLKZEROOUT fail. Linux 6.1 refuses all three itself once virtio_blk has
// marked the disk read-only (VIRTIO_BLK_F_RO): EACCES for the mount,
// EPERM for the others, so no write reaches gonest; gonest's own refusal
// (VIRTIO_BLK_S_IOERR) is tested with fake drivers in devices/virtio/blk
// and by a tiny guest that drives the device itself on real KVM
// (machine/virtioblk_test.go).
// The lab test checks that the image's bytes did not change.
func checkReadOnlyDisk(c *checks, dev string) {
	if err := mountExt4(dev, blkROMount, 0); err == nil {
		c.fail("read-only disk mounted read-write", "device", dev)
		if err := unix.Unmount(blkROMount, 0); err != nil {
			c.fail("unmount the read-only disk", "err", err)
		}
	} else {
		c.env.Log.Info("blk: read-write mount of the read-only disk refused", "err", errnoName(err))
	}
	if err := mountExt4(dev, blkROMount, unix.MS_RDONLY); err != nil {
		c.fail("mount the read-only disk read-only", "err", err)
	} else {
		checkKnown(c, blkROMount)
		if err := unix.Unmount(blkROMount, 0); err != nil {
			c.fail("unmount the read-only disk", "err", err)
		}
	}
	fd, err := unix.Open(dev, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		c.env.Log.Info("blk: open for writing of the read-only disk refused", "err", errnoName(err))
		return
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = 0xa5
	}
	const off = 1 << 20 // inside the disk, away from the superblock
	if n, err := unix.Pwrite(fd, buf, off); err == nil {
		c.fail("write(2) to the read-only disk succeeded", "bytes", n)
	} else {
		c.env.Log.Info("blk: write(2) to the read-only disk refused", "err", errnoName(err))
	}
	if err := blkZeroOut(fd, off, uint64(len(buf))); err == nil {
		c.fail("BLKZEROOUT on the read-only disk succeeded")
	} else {
		c.env.Log.Info("blk: BLKZEROOUT on the read-only disk refused", "err", errnoName(err))
	}
	if err := unix.Fsync(fd); err != nil {
		c.env.Log.Info("blk: fsync of the read-only disk", "err", errnoName(err))
	}
}

// errnoName is "EROFS (read-only file system)" for an errno, else the error.
func errnoName(err error) string {
	var en unix.Errno
	if errors.As(err, &en) {
		return fmt.Sprintf("%s (%v)", unix.ErrnoName(en), en)
	}
	return err.Error()
}

// readThroughput reads all of dev with O_DIRECT, like `dd if=dev
// of=/dev/null bs=1M iflag=direct`, and logs MB/s. The first pass may
// reach below H's page cache; the second finds H's cache warm.
func readThroughput(env *Env, dev, pass string) error {
	fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s O_DIRECT: %w", dev, err)
	}
	defer unix.Close(fd)
	size, err := unix.Seek(fd, 0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("size of %s: %w", dev, err)
	}
	// O_DIRECT needs an aligned buffer: an anonymous mapping is page aligned.
	buf, err := unix.Mmap(-1, 0, blkReadChunk, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	defer unix.Munmap(buf)
	start := time.Now()
	var off int64
	for off < size {
		n, err := unix.Pread(fd, buf[:min(int64(len(buf)), size-off)], off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s at %d: %w", dev, off, err)
		}
		if n == 0 {
			return fmt.Errorf("read %s: end at %d, before its size %d", dev, off, size)
		}
		off += int64(n)
	}
	logRead(env, dev, pass, off, time.Since(start))
	return nil
}

// ResultBlkRead is the result of one sequential read of a disk: metric
// MBps (bench-blk collects them).
const ResultBlkRead = "blk-read"

// logRead logs one sequential read and reports it as a ResultBlkRead.
func logRead(env *Env, dev, pass string, n int64, took time.Duration) {
	mbps := float64(n) / 1e6 / took.Seconds()
	env.Log.Info("blk: sequential read", "pass", pass, "device", dev, "bytes", n,
		"took", took.Round(time.Millisecond), "MBps", fmt.Sprintf("%.1f", mbps))
	env.Result(ResultBlkRead, "", map[string]float64{"MBps": mbps, "bytes": float64(n), "seconds": took.Seconds()})
}

// Bench disk: bench-blk (scenario/bench) gives G1 a disk with this serial.
const (
	BenchBlkSerial = "bench-blk"
	// BenchBlkPasses is how many reads of the whole disk G1 makes per boot.
	BenchBlkPasses = 3
)

// runBenchBlkGuest is G1's side of bench-blk: read the bench disk
// BenchBlkPasses times, each reported as a ResultBlkRead.
func runBenchBlkGuest(ctx context.Context, env *Env) guestabi.Verdict {
	dev := testDisk(ctx, env, BenchBlkSerial+",ro")
	if dev == "" {
		return guestabi.SetupError
	}
	// The request limits the driver took from the device decide how a
	// 1 MiB read is split; they differ between VMMs.
	var limits []any
	for _, l := range []string{"max_hw_sectors_kb", "max_sectors_kb", "max_segments", "max_segment_size"} {
		b, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), "queue", l))
		if err == nil {
			limits = append(limits, l, strings.TrimSpace(string(b)))
		}
	}
	env.Log.Info("bench blk: queue limits", limits...)
	for i := range BenchBlkPasses {
		if err := readThroughput(env, dev, strconv.Itoa(i+1)); err != nil {
			env.Log.Error("read the bench disk", "err", err)
			return guestabi.Fail
		}
	}
	return guestabi.Pass
}
