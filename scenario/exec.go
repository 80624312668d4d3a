package scenario

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gonest/gonest/guest/initkit"
	"github.com/gonest/gonest/guestabi"
)

// Parameters of the exec scenario.
const (
	// ParamExecMounts lists the lab's virtio-fs shares and where H mounts
	// them: gonest.exec.mounts=TAG:/path,TAG:/path:ro (":ro" for a
	// read-only one).
	ParamExecMounts = "gonest.exec.mounts"
	// ParamExecTest is the test binary to run (in one of those shares).
	ParamExecTest = "gonest.exec.test"
	// ParamExecConfig is a file (in a share) the test binary reads its
	// settings from; it gets its path in ExecLabEnv.
	ParamExecConfig = "gonest.exec.config"
)

// ExecLabEnv names, for the test binary the exec scenario runs, the file
// that holds its settings: the lab passes more than a kernel command line
// holds (paths of the Go toolchain, its cache, the test package).
const ExecLabEnv = "GONEST_EXEC_LAB"

// runExec is H's half of the gonest exec lab tests: it mounts the
// virtio-fs shares the lab gave it (the Go toolchain, a build cache, the test
// package, the test binary), puts the kernel H runs at
// /boot/vmlinuz-$(uname -r) beside its /lib/modules/$(uname -r), as an
// installed kernel is on a host (so gonest exec finds it by itself), and
// runs the test binary, which drives gonest exec. The verdict is the
// binary's.
func runExec(ctx context.Context, env *Env) guestabi.Verdict {
	if len(env.ModuleErrors) > 0 {
		env.Log.Error("modules did not load; see the errors above")
		return guestabi.SetupError
	}
	// gonest-init loads KVM, virtio and ext4 at boot; the shares need
	// virtiofs (and its fuse).
	if err := initkit.LoadModule(env.Log, "virtiofs"); err != nil {
		env.Log.Error("virtiofs module", "err", err)
		return guestabi.SetupError
	}
	if err := mountShares(env, env.Param(ParamExecMounts, "")); err != nil {
		env.Log.Error("lab shares", "err", err)
		return guestabi.SetupError
	}
	if err := InstallKernel(); err != nil {
		env.Log.Error("cannot put H's kernel in /boot", "err", err)
		return guestabi.SetupError
	}
	bin := env.Param(ParamExecTest, "")
	if bin == "" {
		env.Log.Error("no test binary: pass " + ParamExecTest + "=PATH")
		return guestabi.SetupError
	}
	args := []string{"-test.v", "-test.count=1", "-test.timeout=" + env.Budget(ctx, 0.9, testTimeout).String()}
	if run := env.Param(guestabi.ParamTestRun, ""); run != "" {
		args = append(args, "-test.run="+run)
	}
	cmd := env.Command(ctx, bin, args...)
	cmd.Dir = os.TempDir()
	cmd.Env = append(cmd.Env, ExecLabEnv+"="+env.Param(ParamExecConfig, ""))
	env.Log.Info("exec lab tests starting", "binary", bin, "args", strings.Join(args, " "))
	start := time.Now()
	failed, err := runNotingFailures(cmd, env.Console)
	for _, t := range failed {
		env.Log.Error("failed test", "test", t)
	}
	if err != nil {
		env.Log.Error("exec lab tests failed", "err", err, "took", time.Since(start).Round(time.Millisecond))
		return guestabi.Fail
	}
	env.Log.Info("exec lab tests passed", "took", time.Since(start).Round(time.Millisecond))
	return guestabi.Pass
}

// mountShares mounts each TAG:/path of list over virtio-fs (the lab's
// vhost-user-fs devices), making the directory first; a read-only share
// is mounted read-only. How long H caches what it read is the lab's
// virtiofsd's choice (its cache option), not a mount option.
func mountShares(env *Env, list string) error {
	if list == "" {
		return nil
	}
	for _, item := range strings.Split(list, ",") {
		tag, dir, ok := strings.Cut(item, ":")
		dir, ro := strings.CutSuffix(dir, ":ro")
		if !ok || tag == "" || !filepath.IsAbs(dir) {
			return fmt.Errorf("%s: %q is not TAG:/path", ParamExecMounts, item)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		flags := uintptr(0)
		if ro {
			flags = unix.MS_RDONLY
		}
		if err := unix.Mount(tag, dir, "virtiofs", flags, ""); err != nil {
			return fmt.Errorf("mount virtiofs %s on %s: %w", tag, dir, err)
		}
		env.Log.Info("lab share mounted", "tag", tag, "dir", dir, "read-only", ro)
	}
	return nil
}

// InstallKernel links /boot/vmlinuz-RELEASE to the kernel this level was
// booted from (guestabi.NextKernel: the lab boots H and G1 from the same
// bzImage).
func InstallKernel() error {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return err
	}
	release := unix.ByteSliceToString(uts.Release[:])
	if _, err := os.Stat(filepath.Join(guestabi.ModulesRoot, release)); err != nil {
		return fmt.Errorf("no modules for %s: %w", release, err)
	}
	if err := os.MkdirAll("/boot", 0o755); err != nil {
		return err
	}
	link := "/boot/vmlinuz-" + release
	if err := os.Symlink(guestabi.NextKernel, link); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	_, err := os.Stat(link)
	return err
}
