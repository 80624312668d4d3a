package main

import (
	"context"

	"github.com/gonest/gonest/guestabi"
)

// Scenario is one thing a guest can be booted to do.
type Scenario struct {
	Name string
	Doc  string
	Run  func(ctx context.Context, env *Env) guestabi.Verdict
}

// scenarios is the table gonest.scenario=NAME picks from. Add a line here
// (and usually a lab test in package lab) for each new scenario.
var scenarios = []Scenario{
	{"boot", "pass as soon as init runs: proves this level boots (G2's usual scenario)", runBoot},
	{"kvmtests", "run the KVM integration test binaries in " + guestabi.TestsDir + " against this level's /dev/kvm", runKVMTests},
	{"doctor", "gonest doctor at this level, its report on the console; pass when this level can run guests that nest", runDoctorScenario},
	{"shell", "start an interactive shell on the console; exiting it powers off", runShell},
	{"disk", "mount the first virtio-blk disk (disk.ext4) read-only and check " + guestabi.DiskCheckFile, runDisk},
	{"linux", "H: gonest doctor, then boot G1 with -smp 2 and -stats to run g1-checks; check its clock, console and poweroff", runLinux},
	{"g1-checks", "G1's half of linux: gonest doctor, processors, wall clock, 64 KiB console each way, then ACPI poweroff", runG1Checks},
	{"demo", "H: the make run demo: boot G1 with a shell (gonest.demo=shell) or with l2-demo", runDemo},
	{"l2-demo", "run /bin/l2 (boot the next level, which says hello), then power off", runL2Demo},
	{"hello", "greet from this level and pass (what l2 boots)", runHello},
	{"bench-boot", "H: time gonest and QEMU microvm booting G1 to its init marker, alternating, and print a table row", runBenchBoot},
	{"blk", "boot G1 with this level's test disks (read-write and ,ro) to run blk-g1; the lab test checks the images", runBlk},
	{"blk-g1", "check, write and sync files on the read-write disk, check that the read-only one refuses writes, time reads", runBlkGuest},
	{"blk-sigterm", "boot G1 to run blk-g1-sigterm and send gonest SIGTERM once G1's sync returned: gonest must exit 143", runBlkSigterm},
	{"blk-g1-sigterm", "write and sync files, report it, then keep writing until gonest is killed", runBlkGuestSigterm},
	{"bench-blk", "bench image: G1 reads a 256 MiB disk behind gonest's virtio-blk and QEMU's, alternating; logs the table row", runBenchBlk},
	{"bench-blk-g1", "read the bench disk sequentially (O_DIRECT) a few times and log MB/s", runBenchBlkGuest},
	{"nested", "boot the next level with gonest (" + guestabi.NextKernel + ") and report its verdict", runNested},
	{"kvmtests+nested", "kvmtests, then nested: G1's part of l2-linux", runKVMTestsThenNested},
	{"tiny-guest", "boot a tiny ELF guest that greets and exits with " + guestabi.ParamCode + " (default 42); its code is the verdict", runTinyGuest},
	{"l2-tiny", "H: G1 runs tiny-guest; the tiny G2's exit code comes back through every level", runL2Tiny},
	{"l2-linux", "H: G1 runs kvmtests+nested, G2 Linux boots; H checks nested_run in G1's KVM stats", runL2Linux},
	{"l2-off", "H: G1 under gonest -nested off runs tiny-guest and must report no kvm", runL2Off},
	{"bench-nested", "H (bench image): time G1 init → G2 verdict with gonest and with QEMU microvm as G1's VMM, and print a table row", runBenchNested},
}

// runBoot passes: reaching a scenario at all means the kernel booted,
// unpacked the initramfs and ran gonest-init. It logs how the kernel was
// entered (bzImage or PVH), which the lab's vmlinux test checks.
func runBoot(_ context.Context, env *Env) guestabi.Verdict {
	env.Log.Info("level booted", "level", env.Level, "entered_by", readBootProtocol())
	return guestabi.Pass
}

// lookupScenario finds a scenario by name.
func lookupScenario(name string) (Scenario, bool) {
	for _, s := range scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}
