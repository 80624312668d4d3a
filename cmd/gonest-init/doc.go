// Command gonest-init is PID 1 of every guest the gonest project boots: the
// lab host H under QEMU, G1 under gonest, G2 under gonest inside G1.
//
// It is the guest half of package guestabi. In order it:
//
//  1. mounts /proc, /sys, /dev (devtmpfs) and /tmp, then writes marker
//     MarkerInitStarted to the marker port (0xF8);
//  2. loads the kernel modules packed in the image (lib/modules/<release>,
//     resolved by package images/kmod from modules.dep): kvm_amd nested=1 on
//     an SVM CPU, kvm_intel nested=1 on a VMX CPU, virtio and ext4 always,
//     logging each load and then /sys/module/kvm_*/parameters/nested;
//     marker MarkerModulesLoaded;
//  3. reads gonest.scenario=NAME and the other gonest.* parameters from
//     /proc/cmdline and runs that scenario from the table in scenarios.go,
//     between markers MarkerScenarioStart and MarkerScenarioEnd;
//  4. writes the scenario's Verdict to the exit port (0xF4), which ends the
//     VM under QEMU's isa-debug-exit or gonest's exit device, and powers off
//     if the VM is still running.
//
// Ports are written through /dev/port, one pwrite at the port's offset.
//
// When a scenario boots the next level (gonest running G1 inside H), Env.RunChild
// prefixes every console line of the child with its level, "[G1] ", so a
// nested log reads "[H] [G1] [G2] ..." once the lab adds H's prefix; and
// when the child fails it prints the child's last lines again, so the
// failing level's tail is at the end of the log.
//
// A scenario that passes may ask, with Env.PowerOff, to end with reboot(2)
// POWER_OFF instead of the exit port, so that the VMM's ACPI poweroff path
// ends the run (the linux scenario checks that gonest then exits 0).
//
// Called as /bin/l2 (a link in the H and G1 images), the binary is not an
// init but the nested demo's one command: it boots the next level with
// gonest from the images at guestabi.NextDir and exits with its verdict
// (demo.go).
//
// To add a scenario, write a func(context.Context, *Env) guestabi.Verdict in
// its own file and add one line to the scenarios table; docs/lab.md shows how
// to run it in the lab.
package main
