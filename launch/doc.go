// Package launch starts a virtual machine, waits for it, and says how it
// ended: the one way gonest's guest init, its lab and a user's Go test
// start a VM.
//
// A Spec names the VMM (Gonest, QEMU, or any VMM implementation such as
// the lab's QEMU-TCG), the kernel and initramfs, memory, vCPUs, disks,
// nested mode, a timeout, and, for a guest that runs gonest-init, the
// level name, scenario and parameters. Run checks the spec before
// starting anything (a missing kernel, an unknown VMM, zero memory: an
// error naming the field), builds the VMM's command line (the kernel
// command line starts from boot.DefaultCmdline, the one default every
// VMM shares), starts it, and while it runs:
//
//   - writes the guest's console to Spec.Console, each line prefixed with
//     the level ("[G1] "), and keeps the last lines of every level it sees
//     ("G1", "G1/G2") for a failure report;
//   - reads the guest's messages (guestabi.Message: verdict, markers,
//     events, results) from the channel the VMM offers: gonest's
//     -messages pipe, QEMU's isa-debugcon sockets, or lines on a stream (Bochs prints port 0xE9 on its stdout),
//     and timestamps each on arrival, so every VMM is timed the same way;
//   - enforces the timeout and decodes the exit status (gonest's own
//     codes; QEMU's isa-debug-exit (v<<1)|1). A VMM whose status says
//     nothing about its guest (StatusBlind: Bochs exits 1 whether its
//     guest powered off or it panicked) is judged by the verdict message
//     alone.
//
// The Result holds the verdict, the exit code, the timeline of markers and
// messages, each level's console tail and gonest's statistics. When the
// guest's verdict did not come back (a crash, a timeout, a VMM that
// refused to start), Run's error says why and ends with the tails.
//
// The verdict is read from the guest's verdict message, cross-checked
// with the VMM's exit status, and never from console text: a guest may
// reword every log line without breaking the level above it.
//
// Exec runs a command rather than a scenario: gonest exec boots a VM in
// which the command sees this machine's files, user and working
// directory, and returns its output and exit code (ExecResult), with
// ExecError when the command never reached an exit status of its own (a
// kernel panic, a timeout, bad input), in gonest exec's words.
package launch
