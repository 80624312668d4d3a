package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/diskfiles"
)

// The virtio-blk lab scenarios (issue 6). H gets two copies of disk.ext4
// from the lab test as QEMU virtio disks with serials BlkRWSerial and
// BlkROSerial, and passes its block devices themselves (/dev/vdX, not a
// file on them) to gonest for G1: the first read-write, the second ,ro.
// G1 finds them by the serial gonest gives them (VIRTIO_BLK_T_GET_ID, in
// /sys/block/vdX/serial), checks and writes files (blk_guest.go), and the
// lab test checks the images again on the host after QEMU exits.
const (
	// BlkRWSerial names the writable disk at both levels.
	BlkRWSerial = diskfiles.RWDiskName
	// BlkROSerial names the read-only disk at both levels.
	BlkROSerial = diskfiles.RODiskName

	// blkG1Memory is G1's memory: its initramfs unpacked, plus page cache
	// for the 11 MiB it writes.
	blkG1Memory = "512M"

	// blkSyncedMsg is the log line G1 prints once sync(2) has returned in
	// the SIGTERM run: H sends gonest SIGTERM when it reads it.
	blkSyncedMsg = "blk sync returned"
	// blkSigtermStatus is gonest's exit status on SIGTERM (128+15).
	blkSigtermStatus = 143
)

// diskBySerial waits up to wait for the virtio-blk disk whose serial
// (/sys/block/vdX/serial) is serial and returns its /dev path.
func diskBySerial(ctx context.Context, serial string, wait time.Duration) (string, error) {
	deadline := time.Now().Add(wait)
	for {
		if dev, ok := findDiskBySerial("/sys/block", serial); ok {
			return dev, nil
		}
		if !time.Now().Before(deadline) {
			return "", fmt.Errorf("no virtio-blk disk with serial %q within %v (disks: %s)", serial, wait, listDisks("/sys/block"))
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// findDiskBySerial looks through sysBlock (/sys/block) for a vd* disk with
// the serial.
func findDiskBySerial(sysBlock, serial string) (string, bool) {
	names, err := filepath.Glob(filepath.Join(sysBlock, "vd*"))
	if err != nil {
		return "", false
	}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(n, "serial"))
		if err == nil && strings.TrimRight(string(b), "\n\x00 ") == serial {
			return "/dev/" + filepath.Base(n), true
		}
	}
	return "", false
}

// listDisks says which vd* disks exist and their serials, for an error.
func listDisks(sysBlock string) string {
	names, _ := filepath.Glob(filepath.Join(sysBlock, "vd*"))
	var out []string
	for _, n := range names {
		b, _ := os.ReadFile(filepath.Join(n, "serial"))
		out = append(out, fmt.Sprintf("%s serial=%q", filepath.Base(n), strings.TrimRight(string(b), "\n\x00 ")))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// blkChildArgs is the gonest command line that boots G1 with the lab's
// disks for G1's scenario.
func blkChildArgs(ctx context.Context, env *Env, scenario string, disks ...string) []string {
	args := []string{"run", "-m", blkG1Memory,
		"-kernel", guestabi.NextKernel, "-initrd", guestabi.NextInitrd,
		"-forward",
		// gonest stops G1 itself (exit 124) before this level's deadline.
		"-timeout", env.Budget(ctx, 0.9, 0).String(),
	}
	for _, d := range disks {
		args = append(args, "-disk", d)
	}
	return append(args, "-append", nextCmdline(env.Level, scenario, env.Budget(ctx, 0.8, 0)))
}

// blkNeeds checks what H needs to boot G1 and returns the lab's disks,
// by serial, in the order asked.
func blkNeeds(ctx context.Context, env *Env, serials ...string) ([]string, bool) {
	if err := mountNextImages(ctx, env.Log, nextImagesWait); err != nil {
		env.Log.Error("G1's images are missing", "err", err)
		return nil, false
	}
	for _, p := range []string{guestabi.GonestBinary, guestabi.NextKernel, guestabi.NextInitrd, "/dev/kvm"} {
		if _, err := os.Stat(p); err != nil {
			env.Log.Error("this level lacks what booting G1 needs; rebuild with `make images`", "missing", p)
			return nil, false
		}
	}
	var devs []string
	for _, s := range serials {
		dev, err := diskBySerial(ctx, s, diskWaitTime)
		if err != nil {
			env.Log.Error("the lab did not attach the test disk (lab.Config.Disks, file named as the serial)", "err", err)
			return nil, false
		}
		devs = append(devs, dev)
	}
	return devs, true
}

// runBlk is H's side of the virtio-blk integrity run: G1 gets H's first
// test disk read-write and its second read-only, runs blk-g1, and gonest
// must exit 0 with G1's pass. The lab test then checks both images.
func runBlk(ctx context.Context, env *Env) guestabi.Verdict {
	devs, ok := blkNeeds(ctx, env, BlkRWSerial, BlkROSerial)
	if !ok {
		return guestabi.SetupError
	}
	env.Log.Info("blk: G1 gets H's block devices", "rw", devs[0], "ro", devs[1])
	return env.RunChild(ctx, guestabi.GonestBinary, blkChildArgs(ctx, env, "blk-g1",
		devs[0]+",serial="+BlkRWSerial, devs[1]+",ro,serial="+BlkROSerial)...)
}

// runBlkSigterm is H's side of the SIGTERM run: G1 writes and syncs its
// files, prints blkSyncedMsg and keeps writing; on that line H sends
// gonest SIGTERM. Pass means gonest exited 143 (having flushed the disk)
// after G1's sync returned; the lab test checks the synced files.
func runBlkSigterm(ctx context.Context, env *Env) guestabi.Verdict {
	devs, ok := blkNeeds(ctx, env, BlkRWSerial)
	if !ok {
		return guestabi.SetupError
	}
	return sigtermChild(ctx, env, guestabi.GonestBinary,
		blkChildArgs(ctx, env, "blk-g1-sigterm", devs[0]+",serial="+BlkRWSerial)...)
}

// sigtermChild runs the VMM command name, its output prefixed like
// RunChild's, sends it SIGTERM as soon as the child prints blkSyncedMsg,
// and passes when the VMM then exits with blkSigtermStatus.
func sigtermChild(ctx context.Context, env *Env, name string, args ...string) guestabi.Verdict {
	child := guestabi.NextLevel(env.Level)
	out := newLineWriter(env.Console, "["+child+"] ", tailLines)
	errOut := newLineWriter(env.Console, "", tailLines)
	synced := make(chan struct{})
	seen := false
	out.onLine = func(line string) {
		if !seen && strings.HasPrefix(line, "init: "+blkSyncedMsg) {
			seen = true
			close(synced)
		}
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = out, errOut
	env.Log.Info("starting next level", "level", child, "cmd", strings.Join(cmd.Args, " "))
	if err := cmd.Start(); err != nil {
		env.Log.Error("start the VMM", "cmd", name, "err", err)
		return guestabi.SetupError
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var err error
	signalled := false
	var sentAt time.Time
	select {
	case <-synced:
		// Right now: G1 is writing its unsynced files.
		if serr := cmd.Process.Signal(syscall.SIGTERM); serr != nil {
			env.Log.Error("send SIGTERM to gonest", "err", serr)
		} else {
			signalled, sentAt = true, time.Now()
			env.Log.Info("blk: G1 reported its sync; sent gonest SIGTERM", "pid", cmd.Process.Pid)
		}
		err = <-done
	case err = <-done:
	}
	for _, w := range []*lineWriter{out, errOut} {
		if ferr := w.Flush(); ferr != nil {
			env.Log.Warn("console write", "err", ferr)
		}
	}
	status := exitStatus(err)
	v := guestabi.Pass
	switch {
	case !signalled:
		env.Log.Error("gonest ended before G1 reported its sync, or SIGTERM could not be sent", "status", status, "err", err)
		v = guestabi.Fail
	case status != blkSigtermStatus:
		env.Log.Error("gonest did not exit 143 on SIGTERM", "status", status, "err", err)
		v = guestabi.Fail
	default:
		env.Log.Info("blk: gonest exited 143 on SIGTERM", "status", status, "after", time.Since(sentAt).Round(time.Millisecond))
	}
	if v != guestabi.Pass {
		env.printTail(child+" console", out.Tail())
		env.printTail("gonest stderr", errOut.Tail())
	}
	return v
}
