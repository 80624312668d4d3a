package bench

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
	"github.com/gonest/gonest/scenario"
)

// The virtio-blk benchmark: inside the same H, G1 reads a 256 MiB disk
// image sequentially (O_DIRECT, 1 MiB at a time, like dd iflag=direct)
// behind gonest's virtio-blk and behind QEMU's (microvm with PCIe,
// virtio-blk-pci), alternating, several times. The image lives in H's
// tmpfs, so both VMMs read the same page-cached bytes and the figure is
// the virtio-blk path, not H's disk.
const (
	blkImage  = "/tmp/bench-blk.img"
	blkSize   = 256 << 20
	blkMemory = 512 << 20
	blkRunMax = 4 * time.Minute
)

// runBenchBlk times G1's sequential reads through gonest and QEMU and
// reports the table row.
func runBenchBlk(ctx context.Context, env *scenario.Env) guestabi.Verdict {
	if v, ok := scenario.NeedNextLevel(ctx, env); !ok {
		return v
	}
	runs, ok := need(env, "bench-blk")
	if !ok {
		return guestabi.SetupError
	}
	if err := writeImage(blkImage, blkSize); err != nil {
		env.Log.Error("write the bench image", "err", err)
		return guestabi.SetupError
	}
	defer os.Remove(blkImage)
	disk := []launch.Disk{{Path: blkImage, ReadOnly: true, Serial: scenario.BenchBlkSerial}}
	gonest := g1Spec(env, gonestVMM, "bench-blk-g1", blkMemory, blkRunMax)
	// -stats: the exit counts behind the figure go into the log.
	gonest.Disks, gonest.Stats = disk, true
	qemu := g1Spec(env, launch.QEMU{Binary: qemuBinary, Machine: "microvm,pcie=on"}, "bench-blk-g1", blkMemory, blkRunMax)
	qemu.Disks = disk
	rates, perRun, err := alternate(ctx, env, runs, [2]contender{
		{name: "gonest", spec: gonest, measure: readRates},
		{name: "qemu", spec: qemu, measure: readRates},
	})
	return compare(env, err, row{title: "virtio-blk sequential read (G1, 256 MiB, O_DIRECT 1 MiB)", gonest: "gonest", qemu: "QEMU",
		of: " reads each", perRun: "per-run ratios", unit: "MB/s", prec: 0}, rates, perRun, runs)
}

// readRates is G1's reads of one boot, in MB/s, from its results.
func readRates(res launch.Result) ([]float64, []any, error) {
	var mbps []float64
	for _, m := range res.Results(0, scenario.ResultBlkRead) {
		mbps = append(mbps, m.Result.Metrics["MBps"])
	}
	if len(mbps) != scenario.BenchBlkPasses {
		return nil, nil, fmt.Errorf("G1 reported %d reads, want %d", len(mbps), scenario.BenchBlkPasses)
	}
	return mbps, []any{"MBps", fmt.Sprint(mbps)}, nil
}

// writeImage fills path with size bytes of a non-zero pattern.
func writeImage(path string, size int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i*7 + i>>9)
	}
	for n := 0; n < size; n += len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
