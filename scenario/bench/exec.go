package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
// working directory shared over QEMU's 9p (-virtfs-style virtio-9p-pci,
// mounted with vimto's options), the command's streams on virtio-serial
// ports. Both sides run the same guest init (gonest's, told to mount 9p
// on QEMU) from an initramfs gonest exec built, one vCPU, 512 MiB:
//
//   - gonest exec -- /bin/true, wall time from exec to exit (gonest exec
//     with its warm initramfs cache; QEMU's process from start to exit);
//   - metadata: find + stat over a 10,000-file tree in the working
//     directory, timed in the guest, in files per second;
//   - data: a 256 MiB file read sequentially (1 MiB reads), in MB/s.
//
// The tree and the file live in H's tmpfs, so both read the same cached
// bytes; each figure comes from a fresh guest (cold guest caches).
const (
	execBenchDir  = "/tmp/bench-exec"
	execDirs      = 100
	execFilesEach = 100 // 10,000 files
	execBigSize   = 256 << 20
	execMemory    = 512 << 20
	// execRunMax bounds one boot and command: 9p walks a tree slowly
	// under the lab's emulated CPU (each lookup a round trip to QEMU's
	// server, which runs on that CPU too).
	execRunMax = 15 * time.Minute
	// FSHelperName is the name the bench image's init answers to as the
	// guest command of the file system benchmark: H's /init, called
	// through a link of that name, which the guest sees in the host's root.
	FSHelperName = "bench-exec-fs"
	fsHelperLink = execBenchDir + "/" + FSHelperName
	// trueCommand is the command of the start-up benchmark: H's u-root
	// has no /bin/true, so the benchmark links it to its busybox's true.
	trueCommand = "/bin/true"
	execRuns    = 3
)

// runBenchExec times gonest exec against QEMU with 9p in the same H and
// reports three table rows.
func runBenchExec(ctx context.Context, env *scenario.Env) guestabi.Verdict {
	runs, ok := need(env, "bench-exec")
	if !ok {
		return guestabi.SetupError
	}
	if err := prepareExecBench(); err != nil {
		env.Log.Error("bench-exec setup", "err", err)
		return guestabi.SetupError
	}
	defer os.RemoveAll(execBenchDir)
	trueDir, fsDir := filepath.Join(execBenchDir, "true"), filepath.Join(execBenchDir, "fs")
	fsArgs := []string{fsHelperLink, "tree", "big"}
	qemuTrue, err := newQEMUExec(env, []string{trueCommand}, trueDir)
	if err != nil {
		env.Log.Error("bench-exec: prepare QEMU's run", "err", err)
		return guestabi.SetupError
	}
	qemuFS, err := newQEMUExec(env, fsArgs, fsDir)
	if err != nil {
		env.Log.Error("bench-exec: prepare QEMU's run", "err", err)
		return guestabi.SetupError
	}
	// One run of each first, not counted: gonest exec's initramfs cache and
	// H's page cache warm, as for a user's second command.
	if _, _, err := gonestExec(ctx, env, trueDir, trueCommand); err != nil {
		env.Log.Error("bench-exec warm-up", "err", err)
		return guestabi.Fail
	}
	if _, _, err := qemuTrue.run(ctx, env); err != nil {
		env.Log.Error("bench-exec warm-up", "err", err)
		return guestabi.Fail
	}

	var startup, files, data [2][]float64
	var startupRatios, filesRatios, dataRatios []float64
	for i := range runs {
		g, _, err := gonestExec(ctx, env, trueDir, trueCommand)
		if err != nil {
			return failed(env, "gonest /bin/true", i, err)
		}
		q, _, err := qemuTrue.run(ctx, env)
		if err != nil {
			return failed(env, "qemu /bin/true", i, err)
		}
		env.Log.Info("bench", "run", i+1, "true_gonest_s", g, "true_qemu_s", q)
		startup[0], startup[1] = append(startup[0], g), append(startup[1], q)
		startupRatios = append(startupRatios, g/q)

		gs, gout, err := gonestExec(ctx, env, fsDir, fsArgs...)
		if err != nil {
			return failed(env, "gonest fs", i, err)
		}
		env.Log.Info("bench", "run", i+1, "fs_gonest_s", gs, "gonest", gout)
		qs, qout, err := qemuFS.run(ctx, env)
		if err != nil {
			return failed(env, "qemu fs", i, err)
		}
		env.Log.Info("bench", "run", i+1, "fs_qemu_s", qs, "qemu", qout)
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
		{row{title: "exec metadata, find + stat of 10,000 files (virtio-fs vs 9p)", gonest: "gonest", qemu: "QEMU",
			perRun: "per run", unit: "files/s", prec: 0}, files, filesRatios},
		{row{title: "exec data, 256 MiB sequential read (virtio-fs vs 9p)", gonest: "gonest", qemu: "QEMU",
			perRun: "per run", unit: "MB/s", prec: 0}, data, dataRatios},
	} {
		if v := compare(env, nil, r.r, r.figures, r.ratios, runs); v != guestabi.Pass {
			return v
		}
	}
	return guestabi.Pass
}

func failed(env *scenario.Env, what string, run int, err error) guestabi.Verdict {
	env.Log.Error("bench-exec run failed", "what", what, "run", run+1, "err", err)
	return guestabi.Fail
}

// prepareExecBench puts H's kernel in /boot, /bin/true, the helper's link
// and the data in place.
func prepareExecBench() error {
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
	for d := range execDirs {
		dir := filepath.Join(fs, "tree", fmt.Sprintf("d%03d", d))
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		for f := range execFilesEach {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", f)), line, 0o644); err != nil {
				return err
			}
		}
	}
	return writeImage(filepath.Join(fs, "big"), execBigSize)
}

// gonestExec runs gonest exec in dir and returns its wall time and the
// command's stdout.
func gonestExec(ctx context.Context, env *scenario.Env, dir string, args ...string) (float64, string, error) {
	ctx, cancel := context.WithTimeout(ctx, execRunMax)
	defer cancel()
	cmd := exec.CommandContext(ctx, guestabi.GonestBinary,
		append([]string{"exec", "-m", "512M", "-smp", "1", "--"}, args...)...)
	cmd.Dir = dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start).Seconds()
	if err != nil {
		return 0, "", fmt.Errorf("gonest exec %s: %v: %s", strings.Join(args, " "), err, errOut.String())
	}
	return took, strings.TrimSpace(out.String()), nil
}

// qemuExec is QEMU microvm running a gonest exec job over 9p.
type qemuExec struct {
	spec launch.Spec
	vmm  *qemuExecVMM
}

// newQEMUExec prepares QEMU's run of args in dir: vmexec builds the
// initramfs (gonest's init, with 9p) and the job, as gonest exec would
// for itself.
func newQEMUExec(env *scenario.Env, args []string, dir string) (*qemuExec, error) {
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
		Memory: execMemory, CPUs: 1, Append: plan.Machine.Append, Level: "G1", Timeout: execRunMax, Console: env.Console}}, nil
}

// run boots QEMU once and returns its wall time and the command's stdout.
func (q *qemuExec) run(ctx context.Context, env *scenario.Env) (float64, string, error) {
	out, err := os.CreateTemp("", "bench-exec-stdout-")
	if err != nil {
		return 0, "", err
	}
	out.Close()
	defer os.Remove(out.Name())
	q.vmm.stdout = out.Name()
	res, err := launch.Run(ctx, q.spec, nil)
	if err != nil {
		return 0, "", fmt.Errorf("qemu: %w", err)
	}
	exits := res.Events(job.EventExit)
	if len(exits) != 1 || exits[0].Event.Fields["code"] != "0" {
		env.PrintTails(res)
		return 0, "", fmt.Errorf("qemu: the command's exit status did not come back as 0: %v", exits)
	}
	b, err := os.ReadFile(out.Name())
	if err != nil {
		return 0, "", err
	}
	return res.Duration.Seconds(), strings.TrimSpace(string(b)), nil
}
