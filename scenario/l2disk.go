package scenario

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gonest/gonest/guest/initkit"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
)

// The disk-bus experiment (l2-disk): does an emulated IDE disk in G2 cost
// G1 and H more than virtio-blk, and how much? H boots G1 with gonest,
// G1 boots G2 with two disks of the same size, one on gonest's PCI IDE
// controller and one virtio-blk, both files in G1's RAM, so that the
// backend costs nothing and what differs is the bus. G2 reads each
// (l2diskguest.go) between measure markers; G1's gonest and H's gonest
// each measure every read in a window, H's with its KVM's exit
// tracepoints; H pairs the three views (l2disktable.go) and reports a
// row per bus.
//
// With gonest.disk.write=1, H also hands G1 the lab's disk L2DiskRWSerial,
// which G1 gives G2 as a second IDE drive: G2 writes files on it, syncs
// and powers off, and the lab test checks the image on the host.

const (
	// l2DiskG2Memory is G2's memory: its kernel and initramfs, and the
	// buffer of one read (gonest.disk.mib, at most maxDiskMiB).
	l2DiskG2Memory = 256 << 20
	// l2DiskImages is where G1 writes the two images, in its RAM.
	l2DiskImages = "/tmp/l2-disk"
)

// The windows each level opens around G2's reads.
const (
	g1DiskWindow = "measure start..measure end"
	hDiskWindow  = "+1 measure start..+1 measure end"
)

// runL2Disk is H's side of l2-disk: with the written disk when the lab
// attached one (TestLabL2Disk does), the reads alone otherwise.
func runL2Disk(ctx context.Context, env *Env) guestabi.Verdict {
	_, write := initkit.FindDiskBySerial("/sys/block", L2DiskRWSerial)
	if !write {
		env.Log.Info("l2-disk: no disk named " + L2DiskRWSerial + " attached, so G2 only reads")
	}
	v, _ := L2Disk(ctx, env, write)
	return v
}

// L2Disk boots G1 to run l2-disk-g1 and returns the figures of each bus,
// also reported as a ResultDiskBus each; write attaches the lab's disk
// for G2 to write (the lab test), and leaves it out for the benchmark.
func L2Disk(ctx context.Context, env *Env, write bool) (guestabi.Verdict, []DiskBus) {
	if _, _, err := diskParams(env); err != nil {
		env.Log.Error("bad disk parameters", "err", err)
		return guestabi.SetupError, nil
	}
	if v, ok := NeedNextLevel(ctx, env); !ok {
		return v, nil
	}
	logNestingFeatures(env)
	c := child{scenario: "l2-disk-g1", statsJSON: true}
	spec := c.spec(ctx, env, true)
	spec.NestedState = false
	spec.Window, spec.TraceExits = hDiskWindow, true
	delete(spec.Params, guestabi.ParamDiskWrite)
	if write {
		dev, err := initkit.DiskBySerial(ctx, L2DiskRWSerial, diskWaitTime)
		if err != nil {
			env.Log.Error("the lab did not attach the disk G2 writes (lab.Config.Disks, a file named "+L2DiskRWSerial+")", "err", err)
			return guestabi.SetupError, nil
		}
		spec.Disks = append(spec.Disks, launch.Disk{Path: dev, Serial: L2DiskRWSerial})
		spec.Params[guestabi.ParamDiskWrite] = "1"
	}
	v, res := env.RunNext(ctx, spec, guestabi.Pass, nil)
	if v != guestabi.Pass {
		return v, nil
	}
	if res.Stats == nil {
		env.Log.Error("H's gonest wrote no statistics: no windows to read")
		return guestabi.Fail, nil
	}
	runs, err := diskRuns(res.Results(1, ResultDiskRead), res.Results(0, ResultDiskWindow), res.Stats.Windows)
	if err != nil {
		env.Log.Error("the reads and the windows do not pair up", "err", err)
		return guestabi.Fail, nil
	}
	buses := summarize(runs)
	table := diskTable(buses)
	fmt.Fprintf(env.Console, "l2-disk: G2 read each bus; per MiB read, medians:\n%s", table)
	for _, b := range buses {
		env.Result(ResultDiskBus, b.line(), b.metrics())
	}
	return guestabi.Pass, buses
}

// runL2DiskG1 is G1's side of l2-disk: make the two images, boot G2 on
// them (and on the lab's disk, passed on as IDE), and report each read's
// window as G1's gonest measured it.
func runL2DiskG1(ctx context.Context, env *Env) guestabi.Verdict {
	mib, _, err := diskParams(env)
	if err != nil {
		env.Log.Error("bad disk parameters", "err", err)
		return guestabi.SetupError
	}
	if v, ok := NeedNextLevel(ctx, env); !ok {
		return v
	}
	if _, err := os.Stat(guestabi.NextDiskInitrd); err != nil {
		env.Log.Error("no initramfs with disk drivers for G2; rebuild the images with `make images`", "err", err)
		return guestabi.SetupError
	}
	spec := env.NextSpec(ctx, "l2-disk-g2", l2DiskG2Memory)
	spec.Initrd = guestabi.NextDiskInitrd
	spec.Params = inheritedParams(env.Params)
	spec.StatsJSON, spec.Window = true, g1DiskWindow
	for _, d := range []struct {
		bus, serial string
		ide         bool
	}{{BusIDE, l2DiskIDESerial, true}, {BusVirtio, l2DiskVirtio, false}} {
		path := filepath.Join(l2DiskImages, d.bus+".img")
		if err := writeDiskImage(path, diskPattern(d.bus, int64(mib)<<20)); err != nil {
			env.Log.Error("write G2's disk image", "err", err)
			return guestabi.SetupError
		}
		spec.Disks = append(spec.Disks, launch.Disk{Path: path, Serial: d.serial, IDE: d.ide})
	}
	if env.Param(guestabi.ParamDiskWrite, "") == "1" {
		dev, err := initkit.DiskBySerial(ctx, L2DiskRWSerial, diskWaitTime)
		if err != nil {
			env.Log.Error("H did not pass on the disk G2 writes", "err", err)
			return guestabi.SetupError
		}
		spec.Disks = append(spec.Disks, launch.Disk{Path: dev, Serial: L2DiskRWSerial, IDE: true})
	}
	if _, runs, _ := diskParams(env); runs > 1 {
		// Each window's tables print at gonest's exit, through G1's
		// console, a byte per exit at H: more than launch waits for
		// once gonest has exited. The figures travel in -stats-json;
		// the tables stay in G1's RAM, the tail of them in the result.
		log, err := os.Create(filepath.Join(l2DiskImages, "gonest-g2.log"))
		if err != nil {
			env.Log.Error("G2's gonest log", "err", err)
			return guestabi.SetupError
		}
		defer log.Close()
		spec.VMMLog = log
		env.Log.Info("l2-disk: G2's gonest writes its window tables to a file, not the console", "path", log.Name(), "runs", runs)
	}
	v, res := env.RunNext(ctx, spec, guestabi.Pass, nil)
	if v != guestabi.Pass {
		return v
	}
	if res.Stats == nil {
		env.Log.Error("G1's gonest wrote no statistics: no windows to read")
		return guestabi.Fail
	}
	reads := res.Results(0, ResultDiskRead)
	wins, err := g1DiskWindows(reads, res.Stats.Windows)
	if err != nil {
		env.Log.Error("G2's reads and G1's windows do not pair up", "err", err)
		return guestabi.Fail
	}
	for i, m := range wins {
		bus := reads[i].Result.Text
		env.Log.Info("l2-disk: G1's window", "bus", bus, "run", m["run"], "bytes", m["bytes"],
			"kvm_exits", m["kvm_exits"], "userspace_exits", m["userspace_exits"], "io_exits", m["io_exits"])
		env.Result(ResultDiskWindow, bus, m)
	}
	return guestabi.Pass
}
