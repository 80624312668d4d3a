package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
	"github.com/gonest/gonest/scenario"
	"github.com/gonest/gonest/vmexec"
	"github.com/gonest/gonest/vmexec/job"
)

// The gonest exec benchmarks, in H of the bench image. H is the host a
// user runs gonest exec on; the reference is what lmb/vimto and virtme-ng
// do with QEMU: a microvm with the same kernel, the host's root and the
// working directory shared over QEMU's 9p (-virtfs-style virtio-9p-pci
// on microvm's PCIe host bridge, mounted with vimto's options), the
// command's streams on virtio-serial ports. Both sides run the same guest init (gonest's, told to mount 9p
// on QEMU) from an initramfs gonest exec built, one vCPU, 512 MiB:
//
//   - gonest exec -- /bin/true, wall time from exec to exit (gonest exec
//     with its warm initramfs cache; QEMU's process from start to exit);
//   - metadata: find + stat over a tree of gonest.bench.files files
//     (default 2,000, 100 to a directory) in the working directory, timed
//     in the guest, in entries per second;
//   - data: a file of gonest.bench.mib MiB (default 64) read
//     sequentially (1 MiB reads), in MB/s.
//
// The defaults are smaller than a user's tree (10,000 files, 256 MiB) so
// that three pairs fit half an hour of the lab under load: QEMU's 9p
// server runs on H's emulated CPU, one round trip per request, and
// bench/results.md has the rates that sized them.
//
// The tree and the file live in H's tmpfs, so both read the same cached
// bytes; each figure comes from a fresh guest (cold guest caches).
const (
	execBenchDir  = "/tmp/bench-exec"
	execFilesEach = 100
	execMemory    = 512 << 20
	// paramFiles and paramMiB size the file system run.
	paramFiles, defaultFiles = "gonest.bench.files", 2000
	paramMiB, defaultMiB     = "gonest.bench.mib", 64
	// execRunMax bounds one boot and a command that reads nothing much;
	// the file system run gets execPerFile and execPerMiB more (9p walks a
	// tree slowly under the lab's emulated CPU, each lookup a round trip
	// to QEMU's server, which runs on that CPU too).
	execRunMax  = 5 * time.Minute
	execPerFile = 250 * time.Millisecond
	execPerMiB  = 3 * time.Second
	// FSHelperName is the name the bench image's init answers to as the
	// guest command of the file system benchmark: H's /init, called
	// through a link of that name, which the guest sees in the host's root.
	FSHelperName = "bench-exec-fs"
	fsHelperLink = execBenchDir + "/" + FSHelperName
	// trueCommand is the command of the start-up benchmark: H's u-root
	// has no /bin/true, so the benchmark links it to its busybox's true.
	trueCommand = "/bin/true"
)

// execSizes are the file system run's tree and file.
type execSizes struct {
	files int
	mib   int
}

// bound is how long one file system run may take.
func (z execSizes) bound() time.Duration {
	return execRunMax + time.Duration(z.files)*execPerFile + time.Duration(z.mib)*execPerMiB
}

// readExecSizes reads gonest.bench.files and gonest.bench.mib: counts from
// 1 to a million files and from 1 MiB to 4 GiB, so that the tree and the
// file fit H's tmpfs.
func readExecSizes(params func(key, def string) string) (execSizes, error) {
	var z execSizes
	for _, p := range []struct {
		key      string
		def, max int
		to       *int
	}{{paramFiles, defaultFiles, 1000000, &z.files}, {paramMiB, defaultMiB, 4096, &z.mib}} {
		v := params(p.key, strconv.Itoa(p.def))
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > p.max {
			return z, fmt.Errorf("bad %s=%q; want a count from 1 to %d", p.key, v, p.max)
		}
		*p.to = n
	}
	return z, nil
}

// runBenchExec times gonest exec against QEMU with 9p in the same H and
// reports five table rows: the wall time, its two parts, the metadata and
// the data figures.
func runBenchExec(ctx context.Context, env *scenario.Env) guestabi.Verdict {
	runs, ok := need(env, "bench-exec")
	if !ok {
		return guestabi.SetupError
	}
	sizes, err := readExecSizes(env.Param)
	if err != nil {
		env.Log.Error("bench-exec", "err", err)
		return guestabi.SetupError
	}
	env.Log.Info(fmt.Sprintf("bench-exec setup: %d pairs in one H, alternating gonest exec and QEMU microvm (pcie=on, virtio-9p-pci and virtio-serial-pci, 9p mounted with lmb/vimto's options: msize 1 MiB, cache=mmap), "+
		"the same kernel and initramfs, %d MiB and 1 vCPU each; the tree: %d files, %d to a directory; the read: a %d MiB file, 1 MiB at a time; "+
		"both in H's tmpfs, each figure from a fresh guest.", runs, execMemory>>20, sizes.files, execFilesEach, sizes.mib))
	if err := prepareExecBench(sizes); err != nil {
		env.Log.Error("bench-exec setup", "err", err)
		return guestabi.SetupError
	}
	defer os.RemoveAll(execBenchDir)
	trueDir, fsDir := filepath.Join(execBenchDir, "true"), filepath.Join(execBenchDir, "fs")
	fsArgs := []string{fsHelperLink, "tree", "big"}
	qemuTrue, err := newQEMUExec(env, execRunMax, []string{trueCommand}, trueDir)
	if err != nil {
		env.Log.Error("bench-exec: prepare QEMU's run", "err", err)
		return guestabi.SetupError
	}
	qemuFS, err := newQEMUExec(env, sizes.bound(), fsArgs, fsDir)
	if err != nil {
		env.Log.Error("bench-exec: prepare QEMU's run", "err", err)
		return guestabi.SetupError
	}
	// One run of each first, not counted: gonest exec's initramfs cache and
	// H's page cache warm, as for a user's second command.
	if _, _, err := gonestExec(ctx, execRunMax, trueDir, trueCommand); err != nil {
		env.Log.Error("bench-exec warm-up", "err", err)
		return guestabi.Fail
	}
	if _, _, err := qemuTrue.run(ctx, env); err != nil {
		env.Log.Error("bench-exec warm-up", "err", err)
		return guestabi.Fail
	}

	var startup, boot, rest, files, data [2][]float64
	var startupRatios, bootRatios, restRatios, filesRatios, dataRatios []float64
	for i := range runs {
		g, _, err := gonestExec(ctx, execRunMax, trueDir, trueCommand)
		if err != nil {
			return failed(env, "gonest /bin/true", i, err)
		}
		q, _, err := qemuTrue.run(ctx, env)
		if err != nil {
			return failed(env, "qemu /bin/true", i, err)
		}
		env.Log.Info("bench", "run", i+1, "true_gonest_s", g.total, "true_gonest_init_s", g.init, "true_qemu_s", q.total, "true_qemu_init_s", q.init)
		startup[0], startup[1] = append(startup[0], g.total), append(startup[1], q.total)
		startupRatios = append(startupRatios, g.total/q.total)
		boot[0], boot[1] = append(boot[0], g.init), append(boot[1], q.init)
		bootRatios = append(bootRatios, g.init/q.init)
		rest[0], rest[1] = append(rest[0], g.total-g.init), append(rest[1], q.total-q.init)
		restRatios = append(restRatios, (g.total-g.init)/(q.total-q.init))

		gs, gout, err := gonestExec(ctx, sizes.bound(), fsDir, fsArgs...)
		if err != nil {
			return failed(env, "gonest fs", i, err)
		}
		env.Log.Info("bench", "run", i+1, "fs_gonest_s", gs.total, "gonest", gout)
		qs, qout, err := qemuFS.run(ctx, env)
		if err != nil {
			return failed(env, "qemu fs", i, err)
		}
		env.Log.Info("bench", "run", i+1, "fs_qemu_s", qs.total, "qemu", qout)
		gf, err := parseFS(gout)
		if err != nil {
			return failed(env, "gonest fs", i, err)
		}
		qf, err := parseFS(qout)
		if err != nil {
			return failed(env, "qemu fs", i, err)
		}
		files[0], files[1] = append(files[0], gf.filesPerSec()), append(files[1], qf.filesPerSec())
		data[0], data[1] = append(data[0], gf.mbPerSec()), append(data[1], qf.mbPerSec())
		filesRatios = append(filesRatios, gf.filesPerSec()/qf.filesPerSec())
		dataRatios = append(dataRatios, gf.mbPerSec()/qf.mbPerSec())
	}
	for _, r := range []struct {
		r       row
		figures [2][]float64
		ratios  []float64
	}{
		{row{title: "exec /bin/true, wall time (gonest exec vs QEMU microvm + 9p root, same kernel and init)", gonest: "gonest", qemu: "QEMU",
			perRun: "per run", unit: "s", prec: 2}, startup, startupRatios},
		{row{title: "exec /bin/true, VMM start to guest init (kernel boot, initramfs)", gonest: "gonest", qemu: "QEMU",
			perRun: "per run", unit: "s", prec: 2}, boot, bootRatios},
		{row{title: "exec /bin/true, guest init to VMM exit (mounts, the command, power-off)", gonest: "gonest", qemu: "QEMU",
			perRun: "per run", unit: "s", prec: 2}, rest, restRatios},
		{row{title: fmt.Sprintf("exec metadata, find + stat of %s files (virtio-fs vs 9p)", thousands(sizes.files)), gonest: "gonest", qemu: "QEMU",
			perRun: "per run", unit: "entries/s", prec: 0}, files, filesRatios},
		{row{title: fmt.Sprintf("exec data, %d MiB sequential read (virtio-fs vs 9p)", sizes.mib), gonest: "gonest", qemu: "QEMU",
			perRun: "per run", unit: "MB/s", prec: 1}, data, dataRatios},
	} {
		if v := compare(env, nil, r.r, r.figures, r.ratios, runs); v != guestabi.Pass {
			return v
		}
	}
	return guestabi.Pass
}

// thousands writes n with commas between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func failed(env *scenario.Env, what string, run int, err error) guestabi.Verdict {
	env.Log.Error("bench-exec run failed", "what", what, "run", run+1, "err", err)
	return guestabi.Fail
}

// prepareExecBench puts H's kernel in /boot, /bin/true, the helper's link
// and the data in place.
func prepareExecBench(sizes execSizes) error {
	if err := scenario.InstallKernel(); err != nil {
		return err
	}
	if _, err := os.Stat(trueCommand); err != nil {
		if err := os.Symlink("/bbin/true", trueCommand); err != nil {
			return err
		}
	}
	fs := filepath.Join(execBenchDir, "fs")
	for _, d := range []string{filepath.Join(execBenchDir, "true"), filepath.Join(fs, "tree")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.Symlink("/init", fsHelperLink); err != nil {
		return err
	}
	line := []byte("a file of the metadata benchmark's tree\n")
	for f := range sizes.files {
		dir := filepath.Join(fs, "tree", fmt.Sprintf("d%04d", f/execFilesEach))
		if f%execFilesEach == 0 {
			if err := os.Mkdir(dir, 0o755); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", f%execFilesEach)), line, 0o644); err != nil {
			return err
		}
	}
	return writeImage(filepath.Join(fs, "big"), sizes.mib<<20)
}

// execTiming is one run's wall time, from just before the VMM's exec to
// its exit, and when the guest's init started within it.
type execTiming struct {
	total, init float64 // seconds
}

// gonestExec runs gonest exec in dir and returns its timing and the
// command's stdout.
func gonestExec(ctx context.Context, bound time.Duration, dir string, args ...string) (execTiming, string, error) {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	res, err := launch.Exec(ctx, launch.ExecSpec{Gonest: launch.Gonest{Binary: guestabi.GonestBinary},
		Args: args, Dir: dir, Memory: execMemory, CPUs: 1})
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("exit code %d", res.ExitCode)
	}
	if err != nil {
		return execTiming{}, "", fmt.Errorf("gonest exec %s: %w; its stderr: %q", strings.Join(args, " "), err, bytes.TrimSpace(res.Stderr))
	}
	return execTiming{total: res.Duration.Seconds(), init: res.Phases.InitStarted.Seconds()}, strings.TrimSpace(string(res.Stdout)), nil
}

// qemuExec is QEMU microvm running a gonest exec job over 9p.
type qemuExec struct {
	spec launch.Spec
	vmm  *qemuExecVMM
}

// newQEMUExec prepares QEMU's run of args in dir: vmexec builds the
// initramfs (gonest's init, with 9p) and the job, as gonest exec would
// for itself.
func newQEMUExec(env *scenario.Env, bound time.Duration, args []string, dir string) (*qemuExec, error) {
	plan, err := vmexec.Prepare(vmexec.Config{
		Args: args, Dir: dir, Env: append(os.Environ(), "PATH=/bin:/bbin:/usr/bin:/sbin"),
		Memory: execMemory, CPUs: 1, Init: guestabi.GonestBinary,
		Transport: job.Transport9P, ExtraModules: []string{"9pnet_virtio", "9p"},
	})
	if err != nil {
		return nil, err
	}
	line, err := job.Encode(plan.Job)
	if err != nil {
		return nil, err
	}
	vmm := &qemuExecVMM{job: line, root: "/", shares: plan.Job.Shares}
	return &qemuExec{vmm: vmm, spec: launch.Spec{VMM: vmm, Kernel: plan.Kernel.Path, Initrd: plan.Initramfs,
		Memory: execMemory, CPUs: 1, Append: plan.Machine.Append, Level: "G1", Timeout: bound, Console: env.Console}}, nil
}

// run boots QEMU once and returns its timing and the command's stdout.
// An error carries what the command wrote to stderr.
func (q *qemuExec) run(ctx context.Context, env *scenario.Env) (execTiming, string, error) {
	dir, err := os.MkdirTemp("", "bench-exec-qemu-")
	if err != nil {
		return execTiming{}, "", err
	}
	defer os.RemoveAll(dir)
	q.vmm.stdout, q.vmm.stderr = filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
	res, err := launch.Run(ctx, q.spec, nil)
	stderr := func() string {
		b, _ := os.ReadFile(q.vmm.stderr)
		return strings.TrimSpace(string(b))
	}
	if err != nil {
		return execTiming{}, "", fmt.Errorf("qemu: %w; the command's stderr: %q", err, stderr())
	}
	exits := res.Events(job.EventExit)
	if len(exits) != 1 || exits[0].Event.Fields["code"] != "0" {
		env.PrintTails(res)
		return execTiming{}, "", fmt.Errorf("qemu: the command's exit status did not come back as 0: %v; its stderr: %q", exits, stderr())
	}
	b, err := os.ReadFile(q.vmm.stdout)
	if err != nil {
		return execTiming{}, "", err
	}
	init, ok := res.Mark(guestabi.MarkerInitStarted)
	if !ok {
		return execTiming{}, "", errors.New("qemu: no init-started marker from the guest")
	}
	return execTiming{total: res.Duration.Seconds(), init: init.Seconds()}, strings.TrimSpace(string(b)), nil
}
