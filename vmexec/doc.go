// Package vmexec runs a command in a Linux VM as if it ran on the host:
// the host's files, the same user and working directory, the command's
// own stdin, stdout, stderr and exit status. It is the engine of gonest
// exec, and what `go test -exec 'gonest exec --'` drives.
//
// Prepare checks a Config before anything boots (every problem is a
// *UsageError, one line that says what to do) and gets the run ready:
//
//   - the kernel: Config.Kernel with its Modules directory; else the
//     host's running kernel (/boot/vmlinuz-$(uname -r) with
//     /lib/modules/$(uname -r)), as virtme-ng does; else the kernel that
//     `make images` fetched (images/out next to gonest's binary, or above
//     the working directory);
//   - the modules the guest needs (RequiredModules, and the KVM module of
//     this CPU's vendor when nesting is not off), resolved with their
//     dependencies from the modules directory (package images/kmod); a
//     module the kernel has built in (modules.builtin) needs nothing, a
//     missing one is named;
//   - the initramfs, built in Go (package images/cpio): gonest's own
//     binary as /init (package vmexec/execinit runs there), those modules
//     as the kernel ships them (a .ko.xz or .ko.zst is decompressed by the
//     guest's kernel, finit_module's MODULE_INIT_COMPRESSED_FILE) and
//     their load list (job.ModuleList), cached in CacheDir under its
//     content hash
//     (the files' hashes memoized by inode and times, so a warm run reads
//     none of them);
//   - the shares: the host's / read-only (cached for an hour in the
//     guest: a toolchain does not change under a test), the working
//     directory and every Config.RW writable; and the job (package
//     vmexec/job) with the host's mount points that the guest must
//     overlay one by one.
//
// Plan.Start builds the VM (package machine) with four virtio-console
// ports: the job and control lines, then stdin, stdout and stderr; the
// serial console (the kernel log) goes to Config.Console and a tail.
// Session.Run boots it and returns a Result: the command's exit status
// from the guest's exec-exit message, or ExitTimeout, or ExitGuestFailed
// with the reason (a kernel panic, a guest that died, a setup step that
// failed) and the console tail. Session.Signal passes a signal to the
// command's process group; Session.Stop ends the VM.
package vmexec
