package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gonest/gonest/guestabi"
)

// The virtio-blk benchmark (issue 6, for `make bench-blk`): inside the
// same H, G1 reads a 256 MiB disk image sequentially (O_DIRECT, 1 MiB at
// a time, like dd iflag=direct) behind gonest's virtio-blk and behind
// QEMU's (microvm with PCIe, virtio-blk-pci), alternating, several times.
// The image lives in H's tmpfs, so both VMMs read the same page-cached
// bytes and the figure is the virtio-blk path, not H's disk. QEMU is only
// in the bench image of H (images/out/h-bench.cpio.gz).
const (
	benchBlkImage  = "/tmp/bench-blk.img"
	benchBlkSize   = 256 << 20
	benchBlkSerial = "bench-blk"
	// benchBlkPasses is how many reads of the whole disk G1 makes per boot.
	benchBlkPasses = 3
	benchBlkMemory = "512M"
	benchBlkRunMax = 4 * time.Minute
	// benchBlkCmdline is gonest's default kernel command line, given to
	// QEMU too so that both kernels do the same work.
	benchBlkCmdline = "console=ttyS0 earlyprintk=ttyS0 reboot=k panic=-1 i8042.noaux"
)

// benchBlkRead matches G1's readThroughput line: "init: blk: sequential read ... MBps=283.4".
var benchBlkRead = regexp.MustCompile(`^init: blk: sequential read .*MBps=([0-9.]+)`)

// runBenchBlk times G1's sequential reads through gonest and QEMU and logs
// the table row (benchResultLine).
func runBenchBlk(ctx context.Context, env *Env) guestabi.Verdict {
	if v, ok := needNextLevel(ctx, env); !ok {
		return v
	}
	if _, err := os.Stat(qemuBinary); err != nil {
		env.Log.Error("no QEMU in this image: boot H with images/out/h-bench.cpio.gz (make bench-blk)", "err", err)
		return guestabi.SetupError
	}
	runs, ok := benchRunCount(env)
	if !ok {
		return guestabi.SetupError
	}
	if err := writeBenchImage(benchBlkImage, benchBlkSize); err != nil {
		env.Log.Error("write the bench image", "err", err)
		return guestabi.SetupError
	}
	defer os.Remove(benchBlkImage)
	rates := map[string][]float64{}
	// Each run's pair of boots is close in time, so its ratio is less
	// affected by a host whose load drifts (other jobs on the lab machine).
	var pairs []string
	for i := range runs {
		pair := map[string]float64{}
		for _, vmm := range []string{"gonest", "qemu"} {
			got, err := benchBlkBoot(ctx, env, vmm)
			if err != nil {
				env.Log.Error("bench boot failed", "vmm", vmm, "run", i+1, "err", err)
				return guestabi.Fail
			}
			env.Log.Info("bench blk", "vmm", vmm, "run", i+1, "MBps", fmt.Sprint(got))
			rates[vmm] = append(rates[vmm], got...)
			pair[vmm] = medianOf(got)
		}
		pairs = append(pairs, fmt.Sprintf("%.2f", pair["gonest"]/pair["qemu"]))
	}
	g, q := rates["gonest"], rates["qemu"]
	row := fmt.Sprintf("virtio-blk sequential read (G1, 256 MiB, O_DIRECT 1 MiB): gonest %s, QEMU %s, ratio %.2f (median of %d reads each; per-run ratios %s)",
		rateSpread(g), rateSpread(q), medianOf(g)/medianOf(q), len(g), strings.Join(pairs, " "))
	env.Log.Info(benchResultMsg, "row", row)
	return guestabi.Pass
}

// writeBenchImage fills path with size bytes of a non-zero pattern.
func writeBenchImage(path string, size int) error {
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

// benchBlkBoot boots G1 under vmm to run bench-blk-g1 on the bench image,
// and returns the MB/s of each of its reads.
func benchBlkBoot(ctx context.Context, env *Env, vmm string) ([]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, benchBlkRunMax)
	defer cancel()
	appendLine := "quiet " + guestabi.ParamScenario + "=bench-blk-g1 " + guestabi.ParamLevel + "=" + guestabi.NextLevel(env.Level)
	var name string
	var args []string
	wantStatus := 0
	switch vmm {
	case "gonest":
		name = guestabi.GonestBinary
		args = []string{"run", "-m", benchBlkMemory, "-smp", "1",
			"-kernel", guestabi.NextKernel, "-initrd", guestabi.NextInitrd,
			"-disk", benchBlkImage + ",ro,serial=" + benchBlkSerial,
			// -stats: the exit counts behind the figure go into the log.
			"-stats", "-timeout", benchBlkRunMax.String(), "-append", appendLine}
	case "qemu":
		name = qemuBinary
		// microvm has no PCI unless asked; pcie=on gives virtio-blk-pci,
		// the transport gonest offers, which Debian's kernel finds alone.
		args = append(microvmArgs("microvm,pcie=on", benchBlkMemory, benchBlkCmdline+" "+appendLine),
			"-drive", "file="+benchBlkImage+",if=none,id=bench,format=raw,readonly=on",
			"-device", "virtio-blk-pci,drive=bench,serial="+benchBlkSerial)
		wantStatus = 1 // isa-debug-exit: (verdict<<1)|1, verdict Pass
	default:
		return nil, fmt.Errorf("unknown VMM %q", vmm)
	}
	var rates []float64
	out := newLineWriter(env.Console, "["+guestabi.NextLevel(env.Level)+" "+vmm+"] ", tailLines)
	out.onLine = func(line string) {
		if m := benchBlkRead.FindStringSubmatch(line); m != nil {
			if v, err := strconv.ParseFloat(m[1], 64); err == nil {
				rates = append(rates, v)
			}
		}
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	if ferr := out.Flush(); ferr != nil {
		env.Log.Warn("console write", "err", ferr)
	}
	if status := exitStatus(err); status != wantStatus {
		env.printTail(vmm+" console", out.Tail())
		return nil, fmt.Errorf("%s exited %d (%v), want %d", vmm, status, err, wantStatus)
	}
	if len(rates) != benchBlkPasses {
		return nil, fmt.Errorf("%s: G1 reported %d reads, want %d", vmm, len(rates), benchBlkPasses)
	}
	return rates, nil
}

// runBenchBlkGuest is G1's side: read the bench disk benchBlkPasses times.
func runBenchBlkGuest(ctx context.Context, env *Env) guestabi.Verdict {
	dev, err := diskBySerial(ctx, benchBlkSerial, diskWaitTime)
	if err != nil {
		env.Log.Error("no bench disk", "err", err)
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
	for i := range benchBlkPasses {
		if err := readThroughput(env, dev, strconv.Itoa(i+1)); err != nil {
			env.Log.Error("read the bench disk", "err", err)
			return guestabi.Fail
		}
	}
	return guestabi.Pass
}

// rateSpread formats rates as "88 MB/s (min 56, max 379)".
func rateSpread(xs []float64) string {
	return fmt.Sprintf("%.0f MB/s (min %.0f, max %.0f)", medianOf(xs), slices.Min(xs), slices.Max(xs))
}

// medianOf returns the median of xs (0 for none).
func medianOf(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
