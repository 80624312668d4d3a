package scenario

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"

	"github.com/gonest/gonest/guestabi"
	"golang.org/x/sys/unix"
)

// Scenario is one thing a guest can be booted to do.
type Scenario struct {
	Name string
	Doc  string
	Run  func(ctx context.Context, env *Env) guestabi.Verdict
}

// Table is what gonest.scenario=NAME picks from. Add a line here (and
// usually a lab test in package lab) for each new scenario.
func Table() []Scenario {
	return []Scenario{
		{"boot", "pass as soon as init runs: proves this level boots (G2's usual scenario)", runBoot},
		{"kvmtests", "run the KVM integration test binaries in " + guestabi.TestsDir + " against this level's /dev/kvm", runKVMTests},
		{"doctor", "gonest doctor at this level, its report on the console and its findings sent up; pass when this level can run guests that nest", runDoctorScenario},
		{"doctor+kvmtests", "doctor, then kvmtests, in one boot (the Intel lab's, where a boot costs minutes)", runDoctorThenKVMTests},
		{"shell", "start an interactive shell on the console; exiting it powers off", runShell},
		{"disk", "mount the first virtio-blk disk (disk.ext4) read-only and check " + guestabi.DiskCheckFile, runDisk},
		{"linux", "H: gonest doctor, then boot G1 with -smp 2 and -stats to run g1-checks; check its clock, console and poweroff", runLinux},
		{"g1-checks", "G1's half of linux: gonest doctor, processors, wall clock, 64 KiB console each way, then ACPI poweroff", runG1Checks},
		{"demo", "H: the make run demo: boot G1 with a shell (gonest.demo=shell) or with l2-demo", runDemo},
		{"l2-demo", "run /bin/l2 (boot the next level, which says hello), then power off", runL2Demo},
		{"hello", "greet from this level and pass (what l2 boots)", runHello},
		{"blk", "boot G1 with this level's test disks (read-write and ,ro) to run blk-g1; the lab test checks the images", runBlk},
		{"blk-g1", "check, write and sync files on the read-write disk, check that the read-only one refuses writes, time reads", runBlkGuest},
		{"blk-sigterm", "boot G1 to run blk-g1-sigterm and send gonest SIGTERM once G1's sync returned: gonest must exit 143", runBlkSigterm},
		{"blk-g1-sigterm", "write and sync files, report it, then keep writing until gonest is killed", runBlkGuestSigterm},
		{"bench-blk-g1", "read the bench disk sequentially (O_DIRECT) a few times and report MB/s", runBenchBlkGuest},
		{"nested", "boot the next level with gonest (" + guestabi.NextKernel + ") and report its verdict", runNested},
		{"kvmtests+nested", "kvmtests, then nested: G1's part of l2-linux", runKVMTestsThenNested},
		{"tiny-guest", "boot a tiny ELF guest that greets and exits with " + guestabi.ParamCode + " (default 42); its code is the verdict", runTinyGuest},
		{"l2-tiny", "H: G1 runs tiny-guest; the tiny G2's exit code comes back through every level", runL2Tiny},
		{"l2-linux", "H: G1 runs kvmtests+nested, G2 Linux boots; H checks nested_run in G1's KVM stats", runL2Linux},
		{"l2-off", "H: G1 under gonest -nested off runs tiny-guest and must report no kvm", runL2Off},
		{"l2-disk", "H: G1 boots G2 with an IDE and a virtio-blk disk; G2 reads each, every level counts the exits per MiB; G2 writes files through IDE on the lab's disk", runL2Disk},
		{"l2-disk-g1", "G1's half of l2-disk: the two disk images in RAM, G2 on them, G1's window of each read", runL2DiskG1},
		{"l2-many", "H: G1 with two vCPUs runs three G2s at once, each with its own disk and console, and a crashing sibling; H's exit tracepoints must show G1 entering three guest vCPUs", runL2Many},
		{"l2-many-g1", "G1's half of l2-many: three G2s at once, the VMs of its KVM, a sibling that triple-faults, then the three finish", runL2ManyG1},
		{"l2-many-g2", "each G2 of l2-many: check its own disk, report ready, wait for go on its console, write its disk", runL2ManyG2},
		{"l1-many", "H: two G1s at once, each with -nested on, each booting its own G2 Linux; both chains pass, H's KVM runs two VMs and nested VMRUNs for each", runL1Many},
		{"l2-qemu", "H: G1 under gonest runs Debian's QEMU (from its next-level disk) with KVM as G2's VMM", runL2QEMU},
		{"l2-qemu-g1", "G1's half of l2-qemu: boot G2 with QEMU, pass its messages up, check that G2 saw QEMU's firmware", runL2QEMUG1},
		{"l2-qemu-g2", "G2 under QEMU: report the OEM ID of its ACPI tables and greet", runL2QEMUG2},
		{"l2-disk-g2", "G2's half of l2-disk: measured reads of each bus, then files written through IDE (gonest.disk.write=1)", runL2DiskG2},
		{"exec", "H: mount the lab's virtio-fs shares, install H's kernel in /boot, run the gonest exec test binary " + ParamExecTest + " names", runExec},
		{"anatomy", "H: the exit-multiplication experiment: each exit loop as H's guest, then as G2 (G1 runs anatomy-g1), with L0's exit tracepoints and live nested state; prints the table", runAnatomy},
		{"anatomy-g1", "G1's half of anatomy: each exit loop as G2, one result per loop", runAnatomyG1},
	}
}

// Lookup finds a scenario by name in table.
func Lookup(table []Scenario, name string) (Scenario, bool) {
	for _, s := range table {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// runBoot passes: reaching a scenario at all means the kernel booted,
// unpacked the initramfs and ran gonest-init. It logs how the kernel was
// entered (bzImage or PVH), which the lab's vmlinux test checks.
func runBoot(_ context.Context, env *Env) guestabi.Verdict {
	env.Log.Info("level booted", "level", env.Level, "entered_by", readBootProtocol())
	return guestabi.Pass
}

// runHello greets from the level it runs at: the guest the demo's l2
// boots.
func runHello(_ context.Context, env *Env) guestabi.Verdict {
	var uts unix.Utsname
	release := "?"
	if err := unix.Uname(&uts); err == nil {
		release = unix.ByteSliceToString(uts.Release[:])
	}
	fmt.Fprintf(env.Console, "\n    Hello from %s! Linux %s on %d CPU(s), booted by gonest at level %s.\n\n",
		env.Level, release, runtime.NumCPU(), previousLevel(env.Level))
	return guestabi.Pass
}

// previousLevel names the level that runs level's VMM.
func previousLevel(level string) string {
	for _, l := range []string{"H", "G1", "G2"} {
		if guestabi.NextLevel(l) == level {
			return l
		}
	}
	return "?"
}

// runShell gives the console to an interactive shell, as the session
// leader with the console as its controlling terminal so ^C works.
func runShell(ctx context.Context, env *Env) guestabi.Verdict {
	if _, err := os.Stat(guestabi.ShellPath); err != nil {
		env.Log.Error("no shell in this image (G2's image has none)", "path", guestabi.ShellPath)
		return guestabi.SetupError
	}
	env.Log.Info("starting shell; exit it to power off", "path", guestabi.ShellPath)
	cmd := env.Command(ctx, guestabi.ShellPath)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(cmd.Env, "HOME=/root", "TERM=vt100")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Run(); err != nil {
		env.Log.Info("shell ended", "err", err)
	}
	return guestabi.Pass
}

// exitStatus is a command's exit status from exec's error: 0 for nil, -1
// when it did not exit normally.
func exitStatus(err error) int {
	var exitErr interface{ ExitCode() int }
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exitErr):
		return exitErr.ExitCode()
	}
	return -1
}
