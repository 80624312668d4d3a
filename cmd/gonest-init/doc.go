// Command gonest-init is PID 1 of every guest the gonest project boots: the
// lab host H under QEMU, G1 under gonest, G2 under gonest inside G1.
//
// It is the boot sequence around package scenario. In order it:
//
//  1. mounts /proc, /sys, /dev (devtmpfs) and /tmp, reads the gonest.*
//     parameters of /proc/cmdline, and opens its ports to the VMM
//     (package guest/report: ioperm and outb, no /dev/port), then writes
//     marker MarkerInitStarted;
//  2. loads the kernel modules packed in the image (package
//     guest/initkit: kvm_amd nested=1 on an SVM CPU, kvm_intel nested=1 on
//     a VMX CPU, virtio and ext4; a module the kernel has built in counts
//     as present), and mounts the next level's images when their disk is
//     there; marker MarkerModulesLoaded;
//  3. runs the scenario gonest.scenario names (scenario.Table and the
//     benchmarks of package scenario/bench), between markers
//     MarkerScenarioStart and MarkerScenarioEnd, bounded by
//     gonest.timeout;
//  4. logs the verdict for people and reports it to the VMM: a verdict
//     message on the message port, then its byte on the exit port, which
//     ends the VM under QEMU's isa-debug-exit or gonest's exit device; and
//     powers off if the VM is still running. A scenario that passed may
//     ask, with Env.PowerOff, to end with reboot(2) POWER_OFF instead of
//     the exit port, so that the VMM's ACPI poweroff path ends the run.
//
// The level above reads the verdict message, never the log: the log's
// wording may change freely.
//
// Called as /bin/l2 (a link in the H and G1 images), the binary is not an
// init but the nested demo's one command: it boots the next level with
// gonest from the images at guestabi.NextDir and exits with its verdict.
package main
