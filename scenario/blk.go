package scenario

import (
	"context"
	"syscall"
	"time"

	"github.com/gonest/gonest/guest/initkit"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/diskfiles"
	"github.com/gonest/gonest/launch"
)

// The virtio-blk lab scenarios. H gets two copies of disk.ext4 from the
// lab test as QEMU virtio disks with serials BlkRWSerial and BlkROSerial,
// and passes its block devices themselves (/dev/vdX, not a file on them)
// to gonest for G1: the first read-write, the second ,ro. G1 finds them
// by the serial gonest gives them (VIRTIO_BLK_T_GET_ID, in
// /sys/block/vdX/serial), checks and writes files (blkguest.go), and the
// lab test checks the images again on the host after QEMU exits.
const (
	// BlkRWSerial names the writable disk at both levels.
	BlkRWSerial = diskfiles.RWDiskName
	// BlkROSerial names the read-only disk at both levels.
	BlkROSerial = diskfiles.RODiskName

	// blkG1Memory is G1's memory: its initramfs unpacked, plus page cache
	// for the 11 MiB it writes.
	blkG1Memory = 512 << 20

	// eventBlkSynced is the event G1 sends once sync(2) has returned in
	// the SIGTERM run: H sends gonest SIGTERM when it arrives.
	eventBlkSynced = "blk-synced"
	// blkSigtermStatus is gonest's exit status on SIGTERM (128+15).
	blkSigtermStatus = 143
	// diskWaitTime bounds the wait for a disk: virtio_blk probes
	// asynchronously.
	diskWaitTime = 10 * time.Second
)

// blkSpec is the launch.Spec that boots G1 with the lab's disks, given by
// serial in the order asked, for G1's scenario; ok is false (and the
// reason logged) when H lacks something.
func blkSpec(ctx context.Context, env *Env, scenario string, disks ...launch.Disk) (launch.Spec, bool) {
	if _, ok := NeedNextLevel(ctx, env); !ok {
		return launch.Spec{}, false
	}
	s := env.NextSpec(ctx, scenario, blkG1Memory)
	for _, d := range disks {
		dev, err := initkit.DiskBySerial(ctx, d.Serial, diskWaitTime)
		if err != nil {
			env.Log.Error("the lab did not attach the test disk (lab.Config.Disks, file named as the serial)", "err", err)
			return launch.Spec{}, false
		}
		d.Path = dev
		s.Disks = append(s.Disks, d)
	}
	return s, true
}

// runBlk is H's side of the virtio-blk integrity run: G1 gets H's first
// test disk read-write and its second read-only, runs blk-g1, and gonest
// must exit 0 with G1's pass. The lab test then checks both images.
func runBlk(ctx context.Context, env *Env) guestabi.Verdict {
	spec, ok := blkSpec(ctx, env, "blk-g1", launch.Disk{Serial: BlkRWSerial}, launch.Disk{Serial: BlkROSerial, ReadOnly: true})
	if !ok {
		return guestabi.SetupError
	}
	env.Log.Info("blk: G1 gets H's block devices", "rw", spec.Disks[0].Path, "ro", spec.Disks[1].Path)
	v, _ := env.RunNext(ctx, spec, guestabi.Pass, nil)
	return v
}

// runBlkSigterm is H's side of the SIGTERM run: G1 writes and syncs its
// files, sends eventBlkSynced and keeps writing; on that event H sends
// gonest SIGTERM. Pass means gonest exited 143 (having flushed the disk)
// after G1's sync returned; the lab test checks the synced files.
func runBlkSigterm(ctx context.Context, env *Env) guestabi.Verdict {
	spec, ok := blkSpec(ctx, env, "blk-g1-sigterm", launch.Disk{Serial: BlkRWSerial})
	if !ok {
		return guestabi.SetupError
	}
	return sigtermNext(ctx, env, spec)
}

// sigtermNext boots spec, sends its VMM SIGTERM as soon as the next level
// reports eventBlkSynced, and passes when the VMM then exits with
// blkSigtermStatus.
func sigtermNext(ctx context.Context, env *Env, spec launch.Spec) guestabi.Verdict {
	var vmm *launch.Process
	var sentAt time.Time
	obs := &launch.Observer{
		Started: func(p *launch.Process) { vmm = p },
		Message: func(m launch.Message) {
			if !m.IsEvent(eventBlkSynced) || m.Depth != 0 || !sentAt.IsZero() {
				return
			}
			// Right now: G1 is writing its unsynced files.
			if err := vmm.Signal(syscall.SIGTERM); err != nil {
				env.Log.Error("send SIGTERM to gonest", "err", err)
				return
			}
			sentAt = time.Now()
			env.Log.Info("blk: G1 reported its sync; sent gonest SIGTERM")
		},
	}
	res, _ := env.Launch(ctx, spec, obs)
	switch {
	case sentAt.IsZero():
		env.Log.Error("gonest ended before G1 reported its sync, or SIGTERM could not be sent", "status", res.ExitCode, "why", res.Reason)
	case res.ExitCode != blkSigtermStatus:
		env.Log.Error("gonest did not exit 143 on SIGTERM", "status", res.ExitCode, "why", res.Reason)
	default:
		env.Log.Info("blk: gonest exited 143 on SIGTERM", "status", res.ExitCode, "after", time.Since(sentAt).Round(time.Millisecond))
		return guestabi.Pass
	}
	env.PrintTails(res)
	return guestabi.Fail
}
