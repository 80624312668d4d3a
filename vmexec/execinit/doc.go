// Package execinit is the guest side of gonest exec: the init that runs
// as PID 1 of the exec guest. It is gonest itself: gonest exec copies its
// own binary into the initramfs as /init, and gonest, started as /init
// with PID 1, runs Main instead of its command line. No second binary is
// installed or shipped.
//
// Main mounts /proc, /sys and /dev, opens the VMM's message and exit
// ports with ioperm(2) (package guest/portio: no /dev/port), loads the
// modules the host listed in the initramfs (job.ModuleList, each after its
// dependencies; the kernel's built-in ones are not there; the KVM group
// only when the CPU offers SVM or VMX), waits for the virtio-console ports,
// and reads the job (package vmexec/job) from the control port. It then
// builds the command's root:
//
//   - the host's / is mounted read-only from its virtio-fs share and
//     covered by an overlay whose upper layer is a tmpfs, so the command
//     sees the host's toolchain and libraries and may write anywhere, in
//     memory;
//   - each host file system below / (a separate /tmp, /home, /boot ...)
//     gets an overlay of its own, because the guest sees it as a
//     virtio-fs submount and overlayfs does not cross mount points of a
//     lower layer (fs/overlayfs/namei.c, ovl_lookup_single: an automount
//     point is EREMOTE). Each such point, and each place where a writable
//     share or the guest's own /proc, /sys and /dev go, is an opaque
//     directory of the overlay above it;
//   - the writable shares (the working directory, -rw) are mounted at
//     their host paths straight from virtio-fs, so writes reach the host;
//   - /proc, /sys and /dev move in, the new root is moved onto / and
//     chrooted into (switch_root's way: rootfs cannot be pivot_root'ed),
//     and devpts, /dev/shm, cgroup2 and the debugging file systems are
//     mounted.
//
// The command then runs as the host user (uid, gid, groups), in the host
// working directory, with the job's environment, umask, open-file limit
// and hostname, a loopback interface that is up, and /dev/kvm open to it
// when the CPU offers SVM or VMX (the KVM module is loaded with
// nested=1). Its stdin, stdout and stderr are three console ports, apart
// from the serial console that carries the kernel's and the init's log.
// It leads a session of its own; the host's signals (Ctrl-C) arrive as
// control lines and go to its process group. The init reaps every orphan
// while it waits. Its exit status goes back as an exec-exit event message,
// then as the exit-port byte, which ends the VM; the command's output has
// reached the host by then (the console device writes out what the guest
// queued before gonest exits).
package execinit
