package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gonest/gonest/guestabi"
)

// The boot benchmark (issue 4): inside the same H, gonest and QEMU microvm
// (-M microvm -enable-kvm -cpu host) each boot G1 (the same kernel,
// initramfs, memory, one vCPU and command line) to its init's first
// marker, alternating, several times. Only the bench image of H
// (images/out/h-bench.cpio.gz, `make bench-boot`) holds QEMU.

// Benchmark parameters.
const (
	// paramBenchRuns is every benchmark's runs per VMM (default benchRuns).
	paramBenchRuns = "gonest.bench.runs"
	benchRuns      = 3
	benchMemory    = "512M"
	benchRunMax    = 4 * time.Minute // one boot, before it counts as failed
	// qemuBinary is where the bench image puts QEMU.
	qemuBinary = "/usr/bin/qemu-system-x86_64"
	// benchCmdline is gonest's default command line (boot.DefaultCmdline),
	// given to QEMU too so both kernels do the same work.
	benchCmdline = "console=ttyS0 earlyprintk=ttyS0 reboot=k panic=-1 i8042.noaux"
	// initStartedLine is the console line gonest-init prints right after
	// marker 1: a cross-check measured the same way for both VMMs.
	initStartedLine = "init: gonest-init started"
)

// benchResultMsg starts the line the host-side bench command
// (lab/cmd/gonest-bench) picks out of the log: "init: bench result row=...".
const benchResultMsg = "bench result"

// bootTiming is one boot: start to marker 1, and start to the init's
// first console line (the cross-check).
type bootTiming struct {
	marker, line time.Duration
	overhead     uint64 // gonest only: -stats-json's VMM overhead, bytes
}

// benchRunCount reads paramBenchRuns; it logs why a bad value is bad.
func benchRunCount(env *Env) (int, bool) {
	runs, err := strconv.Atoi(env.Param(paramBenchRuns, strconv.Itoa(benchRuns)))
	if err != nil || runs < 1 {
		env.Log.Error("bad "+paramBenchRuns+"; want a count of runs", "value", env.Param(paramBenchRuns, ""))
		return 0, false
	}
	return runs, true
}

// runBenchBoot times gonest and QEMU booting G1 and prints the table row.
func runBenchBoot(ctx context.Context, env *Env) guestabi.Verdict {
	if v, ok := needNextLevel(ctx, env); !ok {
		return v
	}
	if _, err := os.Stat(qemuBinary); err != nil {
		env.Log.Error("no QEMU in this image: boot H with images/out/h-bench.cpio.gz (make bench-boot)", "err", err)
		return guestabi.SetupError
	}
	runs, ok := benchRunCount(env)
	if !ok {
		return guestabi.SetupError
	}
	// Both VMMs read the same kernel and initramfs from H's disk: read them
	// once first, so that the first run does not pay for the page cache.
	for _, f := range []string{guestabi.NextKernel, guestabi.NextInitrd} {
		if _, err := os.ReadFile(f); err != nil {
			env.Log.Error("read G1's images", "err", err)
			return guestabi.SetupError
		}
	}
	var gonest, qemu []bootTiming
	var ratios []string
	for i := range runs {
		for _, vmm := range []struct {
			name string
			boot func(context.Context, *Env) (bootTiming, error)
			into *[]bootTiming
		}{{"gonest", bootGonest, &gonest}, {"qemu", bootQEMU, &qemu}} {
			t, err := vmm.boot(ctx, env)
			if err != nil {
				env.Log.Error("bench boot failed", "vmm", vmm.name, "run", i+1, "err", err)
				return guestabi.Fail
			}
			*vmm.into = append(*vmm.into, t)
			env.Log.Info("bench boot", "vmm", vmm.name, "run", i+1,
				"start_to_marker1", t.marker.Round(time.Millisecond), "start_to_init_line", t.line.Round(time.Millisecond))
		}
		// Each pair ran back to back: its own ratio shows how much the
		// shared machine's load drifted between pairs.
		ratios = append(ratios, fmt.Sprintf("%.2f", gonest[i].marker.Seconds()/qemu[i].marker.Seconds()))
	}
	g, q := summarize(gonest, func(t bootTiming) time.Duration { return t.marker }),
		summarize(qemu, func(t bootTiming) time.Duration { return t.marker })
	gl, ql := summarize(gonest, func(t bootTiming) time.Duration { return t.line }),
		summarize(qemu, func(t bootTiming) time.Duration { return t.line })
	row := fmt.Sprintf("lab G1 boot (start → init marker): gonest %s, QEMU microvm %s, ratio %.2f (median of %d; per run %s)",
		g, q, g.median.Seconds()/q.median.Seconds(), runs, strings.Join(ratios, " "))
	env.Log.Info(benchResultMsg, "row", row)
	var over []float64
	for _, t := range gonest {
		over = append(over, float64(t.overhead)/(1<<20))
	}
	slices.Sort(over)
	env.Log.Info(benchResultMsg, "row", fmt.Sprintf("VMM overhead at G1 boot (RSS − resident guest RAM): gonest %.1f MiB (min %.1f, max %.1f; median of %d)",
		over[len(over)/2], over[0], over[len(over)-1], len(over)))
	env.Log.Info("bench cross-check (start → init's first console line)", "gonest", gl.String(), "qemu", ql.String(),
		"ratio", fmt.Sprintf("%.2f", gl.median.Seconds()/ql.median.Seconds()))
	return guestabi.Pass
}

// spread is a median with its min and max.
type spread struct{ median, min, max time.Duration }

func summarize(ts []bootTiming, pick func(bootTiming) time.Duration) spread {
	d := make([]time.Duration, len(ts))
	for i, t := range ts {
		d[i] = pick(t)
	}
	slices.Sort(d)
	m := d[len(d)/2]
	if len(d)%2 == 0 {
		m = (d[len(d)/2-1] + d[len(d)/2]) / 2
	}
	return spread{median: m, min: d[0], max: d[len(d)-1]}
}

func (s spread) String() string {
	return fmt.Sprintf("%.2f s (min %.2f, max %.2f)", s.median.Seconds(), s.min.Seconds(), s.max.Seconds())
}

// benchAppend is the G1 command line both VMMs get after benchCmdline.
func benchAppend(env *Env) string {
	return "quiet " + guestabi.ParamScenario + "=boot " + guestabi.ParamLevel + "=" + guestabi.NextLevel(env.Level)
}

// bootGonest boots G1 with gonest. Marker 1's time comes from gonest's
// -stats-json timeline, counted from gonest's VMM start (its exec and Go
// runtime start-up, a few ms, are not in it; the console-line cross-check
// includes them).
func bootGonest(ctx context.Context, env *Env) (bootTiming, error) {
	stats := filepath.Join(os.TempDir(), "bench-gonest.json")
	_ = os.Remove(stats)
	args := []string{"run", "-m", benchMemory, "-smp", "1",
		"-kernel", guestabi.NextKernel, "-initrd", guestabi.NextInitrd,
		"-stats-json", stats, "-timeout", benchRunMax.String(), "-append", benchAppend(env)}
	line, status, err := timeVMM(ctx, env, "gonest", guestabi.GonestBinary, args)
	if err != nil {
		return bootTiming{}, err
	}
	if status != 0 {
		return bootTiming{}, fmt.Errorf("gonest exited %d, want 0 (G1's boot scenario passes)", status)
	}
	s, err := readVMMStats(stats)
	if err != nil {
		return bootTiming{}, err
	}
	ms, ok := s.event("guest: " + guestabi.MarkerInitStarted.String())
	if !ok {
		return bootTiming{}, fmt.Errorf("no %q marker in gonest's timeline", guestabi.MarkerInitStarted)
	}
	return bootTiming{marker: time.Duration(ms * float64(time.Millisecond)), line: line, overhead: s.Memory.Overhead}, nil
}

// bootQEMU boots G1 with QEMU microvm on this level's KVM. Marker 1 is
// timed as it arrives on QEMU's isa-debugcon socket.
func bootQEMU(ctx context.Context, env *Env) (bootTiming, error) {
	sock := filepath.Join(os.TempDir(), "bench-qemu-markers.sock")
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return bootTiming{}, fmt.Errorf("marker socket: %w", err)
	}
	defer ln.Close()
	start := time.Now()
	var marker1 time.Duration
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		buf := make([]byte, 16)
		for {
			n, err := conn.Read(buf)
			for _, b := range buf[:n] {
				if depth, m := guestabi.SplitMarker(b); depth == 0 && m == guestabi.MarkerInitStarted && marker1 == 0 {
					marker1 = time.Since(start)
				}
			}
			if err != nil {
				return
			}
		}
	}()
	args := append(microvmArgs("microvm", benchMemory, benchCmdline+" "+benchAppend(env)), qemuMarkerArgs(sock)...)
	line, status, err := timeVMMFrom(ctx, env, "qemu", qemuBinary, args, start)
	ln.Close()
	wg.Wait()
	if err != nil {
		return bootTiming{}, err
	}
	// isa-debug-exit: QEMU exits (verdict<<1)|1, so 1 is a pass.
	if status != 1 {
		return bootTiming{}, fmt.Errorf("QEMU exited %d, want 1 (verdict pass through isa-debug-exit)", status)
	}
	if marker1 == 0 {
		return bootTiming{}, errors.New("marker 1 never arrived on QEMU's debugcon")
	}
	return bootTiming{marker: marker1, line: line}, nil
}

// timeVMM runs a VMM to its end and returns when its guest's init printed
// initStartedLine (counted from just before the exec) and its exit status.
func timeVMM(ctx context.Context, env *Env, name, bin string, args []string) (time.Duration, int, error) {
	return timeVMMFrom(ctx, env, name, bin, args, time.Now())
}

func timeVMMFrom(ctx context.Context, env *Env, name, bin string, args []string, start time.Time) (time.Duration, int, error) {
	ctx, cancel := context.WithTimeout(ctx, benchRunMax+30*time.Second)
	defer cancel()
	var line time.Duration
	out := newLineWriter(env.Console, "["+name+"] ", tailLines)
	out.onLine = func(s string) {
		if line == 0 && strings.HasPrefix(s, initStartedLine) {
			line = time.Since(start)
		}
	}
	// Only G1's first lines and its verdict are worth a log line per run.
	out.hide = func(s string) bool { return !strings.HasPrefix(s, "init: ") }
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	if ferr := out.Flush(); ferr != nil {
		env.Log.Warn("console write", "err", ferr)
	}
	status := exitStatus(err)
	if status < 0 {
		return 0, 0, fmt.Errorf("%s: %w", name, err)
	}
	if line == 0 {
		return 0, status, fmt.Errorf("%s (exit %d): G1's init never printed %q", name, status, initStartedLine)
	}
	return line, status, nil
}

// microvmArgs is the QEMU command line the benchmarks compare gonest with:
// microvm (machine, e.g. "microvm,pcie=on" for virtio-blk-pci) on this
// level's KVM with the host's CPU, one vCPU, the next level's kernel and
// initrd, the console on stdio, and isa-debug-exit where gonest has its
// exit device. QEMU exits with (verdict << 1) | 1.
func microvmArgs(machine, memory, cmdline string) []string {
	return []string{"-M", machine, "-enable-kvm", "-cpu", "host", "-m", memory, "-smp", "1",
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-serial", "stdio", "-monitor", "none",
		"-kernel", guestabi.NextKernel, "-initrd", guestabi.NextInitrd, "-append", cmdline,
		"-device", fmt.Sprintf("isa-debug-exit,iobase=0x%x,iosize=0x04", guestabi.ExitPort)}
}

// qemuMarkerArgs puts an isa-debugcon on the marker port, writing to the
// unix socket sock, so the benchmark times QEMU's guest by its markers.
func qemuMarkerArgs(sock string) []string {
	return []string{"-chardev", "socket,id=markers,path=" + sock,
		"-device", fmt.Sprintf("isa-debugcon,iobase=0x%x,chardev=markers", guestabi.MarkerPort)}
}
