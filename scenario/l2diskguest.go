package scenario

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gonest/gonest/guest/initkit"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/diskfiles"
	"golang.org/x/sys/unix"
)

// The disk-bus experiment, G2's side (l2-disk-g2): G2 reads the same
// amount from a disk on gonest's emulated IDE controller and from a
// virtio-blk disk, each read between a "measure start" and a "measure
// end" marker so that every VMM above counts exactly that read, then
// writes files on a third disk, also IDE, which the lab checks on the
// host after the run.

// The disks G1 gives G2, by serial.
const (
	// L2DiskRWSerial is the lab's disk that G2 writes through IDE: the
	// file's name, its virtio serial in H and G1, its ATA serial in G2.
	L2DiskRWSerial  = "ide-rw.ext4"
	l2DiskIDESerial = "l2disk-ide"
	l2DiskVirtio    = "l2disk-virtio"
)

// A bus of the experiment, as results and the table name it.
const (
	BusIDE    = "ide"
	BusVirtio = "virtio-blk"
)

// l2DiskBuses is the order G2 reads the buses in, every run.
var l2DiskBuses = []string{BusIDE, BusVirtio}

const (
	// ResultDiskRead is G2's result for one read: Text the bus, metrics
	// bytes, seconds and MBps.
	ResultDiskRead = "disk-read"
	// defaultDiskMiB is what G2 reads per bus and run without
	// gonest.disk.mib: at the lab's IDE rates (docs/nested.md) a few MiB
	// are enough for stable exits per MiB and keep make test short.
	defaultDiskMiB = 2
	// maxDiskMiB bounds gonest.disk.mib: G1 holds both images in its RAM
	// and G2 the data it read.
	maxDiskMiB = 64
	// maxDiskRuns bounds gonest.disk.runs.
	maxDiskRuns = 20
	// ataWait bounds the wait for an ATA disk: ata_piix probes both
	// channels and the SCSI layer attaches each disk asynchronously,
	// slowly under nested virtualization.
	ataWait = time.Minute
	// l2DiskMount is where G2 mounts the written disk.
	l2DiskMount = "/mnt/ide-rw"
	// L2DiskWrittenCount is how many of diskfiles.Written G2 writes on the
	// IDE disk: the edge sizes up to 4095 bytes, 5.5 KiB in all. Every
	// 32-bit word written through IDE is an exit of G2 reflected into G1
	// (KVM emulates rep outsd one word per exit), about 12 ms each in the
	// lab, so a 1 KiB block costs 3 s: the set, and the file system the
	// lab test makes for it (1 KiB blocks, no journal), are small.
	L2DiskWrittenCount = 6
)

// diskPattern is the contents of the image G1 makes for bus: n bytes
// that both sides generate from the bus's name.
func diskPattern(bus string, n int64) diskfiles.File {
	seed := uint64(0x6c326469736b) // "l2disk"
	for _, c := range []byte(bus) {
		seed = seed*131 + uint64(c)
	}
	return diskfiles.File{Path: bus + ".img", Size: n, Seed: seed}
}

// diskParams reads gonest.disk.mib and gonest.disk.runs.
func diskParams(env *Env) (mib, runs int, err error) {
	mib, err = boundedParam(env, guestabi.ParamDiskMiB, defaultDiskMiB, maxDiskMiB)
	if err == nil {
		runs, err = boundedParam(env, guestabi.ParamDiskRuns, 1, maxDiskRuns)
	}
	return mib, runs, err
}

// boundedParam reads an integer parameter from 1 to most, def when absent.
func boundedParam(env *Env, key string, def, most int) (int, error) {
	s := env.Param(key, "")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > most {
		return 0, fmt.Errorf("%s=%q: want a number from 1 to %d", key, s, most)
	}
	return n, nil
}

// runL2DiskG2 is G2's side of l2-disk.
func runL2DiskG2(ctx context.Context, env *Env) guestabi.Verdict {
	mib, runs, err := diskParams(env)
	if err != nil {
		env.Log.Error("bad disk parameters", "err", err)
		return guestabi.SetupError
	}
	for _, mod := range []string{"ata_piix", "sd_mod"} {
		if err := initkit.LoadModule(env.Log, mod); err != nil {
			env.Log.Error("the IDE driver did not load; G2 boots "+guestabi.NextDiskInitrd+", built by make images", "module", mod, "err", err)
			return guestabi.SetupError
		}
	}
	ide, err := initkit.ATADiskBySerial(ctx, l2DiskIDESerial, ataWait)
	if err != nil {
		env.Log.Error("the IDE disk", "err", err)
		return guestabi.SetupError
	}
	vd, err := initkit.DiskBySerial(ctx, l2DiskVirtio, diskWaitTime)
	if err != nil {
		env.Log.Error("the virtio-blk disk", "err", err)
		return guestabi.SetupError
	}
	env.Log.Info("l2-disk: disks found by serial", BusIDE, ide, BusVirtio, vd, "MiB", mib, "runs", runs)
	c := &checks{env: env}
	devs := map[string]string{BusIDE: ide, BusVirtio: vd}
	for run := 1; run <= runs; run++ {
		for _, bus := range l2DiskBuses {
			if err := measuredRead(env, bus, devs[bus], int64(mib)<<20, run); err != nil {
				c.fail("measured read", "bus", bus, "run", run, "err", err)
				return c.verdict()
			}
		}
	}
	if env.Param(guestabi.ParamDiskWrite, "") == "1" {
		writeIDEFiles(ctx, c)
	}
	// The lab checks the written disk after QEMU exits: ending with a
	// poweroff syncs it and flushes the drive's cache (sd_mod's shutdown
	// sends SYNCHRONIZE CACHE, which libata turns into FLUSH CACHE).
	env.PowerOff = true
	return c.verdict()
}

// measuredRead reads the first n bytes of dev with O_DIRECT, 1 MiB at a
// time, between the measure markers; reports the rate as a
// ResultDiskRead; then checks the bytes against diskPattern.
func measuredRead(env *Env, bus, dev string, n int64, run int) error {
	fd, err := unix.Open(dev, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s O_DIRECT: %w", dev, err)
	}
	defer unix.Close(fd)
	// One page-aligned buffer for the whole read: the check happens after
	// the closing marker, so the window holds the reads alone.
	buf, err := unix.Mmap(-1, 0, int(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("mmap %d bytes: %w", n, err)
	}
	defer unix.Munmap(buf)
	env.Report.Marker(guestabi.MarkerMeasureStart)
	start := time.Now()
	var off int64
	for off < n && err == nil {
		var got int
		got, err = unix.Pread(fd, buf[off:min(off+blkReadChunk, n)], off)
		switch {
		case errors.Is(err, unix.EINTR):
			err = nil
		case err == nil && got == 0:
			err = fmt.Errorf("end of %s at %d, before %d bytes", dev, off, n)
		}
		off += int64(got)
	}
	took := time.Since(start)
	env.Report.Marker(guestabi.MarkerMeasureEnd)
	if err != nil {
		return fmt.Errorf("read %s at %d: %w", dev, off, err)
	}
	mbps := float64(n) / 1e6 / took.Seconds()
	env.Log.Info("l2-disk: read", "bus", bus, "run", run, "device", dev, "bytes", n,
		"took", took.Round(time.Millisecond), "MBps", fmt.Sprintf("%.2f", mbps))
	env.Result(ResultDiskRead, bus, map[string]float64{"run": float64(run), "bytes": float64(n), "seconds": took.Seconds(), "MBps": mbps})
	if got, want := sha256.Sum256(buf), diskPattern(bus, n).Sum(); got != want {
		return fmt.Errorf("the %d bytes read from %s differ from the image G1 wrote", n, dev)
	}
	return nil
}

// writeIDEFiles mounts the lab's disk through IDE, writes the first
// L2DiskWrittenCount files of diskfiles.Written, syncs, unmounts, mounts
// again (so every byte checked comes through IDE) and checks them.
func writeIDEFiles(ctx context.Context, c *checks) {
	env := c.env
	dev, err := initkit.ATADiskBySerial(ctx, L2DiskRWSerial, ataWait)
	if err != nil {
		c.fail("the IDE disk to write", "err", err)
		return
	}
	written := diskfiles.Written(L2DiskWrittenCount, diskfiles.WrittenSeed)
	// noinit_itable: ext4 would otherwise zero uninitialised inode tables
	// in the background after the mount, through PIO
	// (fs/ext4/super.c, ext4_register_li_request).
	err = os.MkdirAll(l2DiskMount, 0o755)
	if err == nil {
		err = unix.Mount(dev, l2DiskMount, "ext4", 0, "noinit_itable")
	}
	if err != nil {
		c.fail("mount the IDE disk", "device", dev, "err", err)
		return
	}
	start := time.Now()
	if err := writeFiles(env, l2DiskMount, written); err != nil {
		c.fail("write the files on the IDE disk", "err", err)
	}
	unix.Sync()
	env.Log.Info("l2-disk: files written and synced through IDE", "device", dev, "files", len(written),
		"took", time.Since(start).Round(time.Millisecond))
	if err := unix.Unmount(l2DiskMount, 0); err != nil {
		c.fail("unmount the IDE disk", "err", err)
		return
	}
	if err := mountExt4(dev, l2DiskMount, unix.MS_RDONLY); err != nil {
		c.fail("mount the IDE disk again", "err", err)
		return
	}
	checkFiles(c, l2DiskMount, written, "files read back through IDE")
	if err := unix.Unmount(l2DiskMount, 0); err != nil {
		c.fail("unmount the IDE disk", "err", err)
	}
}

// writeDiskImage writes f's contents to path, for G1 to attach.
func writeDiskImage(path string, f diskfiles.File) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, f.Reader()); err != nil {
		out.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return out.Close()
}
