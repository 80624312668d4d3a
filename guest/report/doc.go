// Package report is how a guest's init reports to the VMM that runs it,
// through the three ports of package guestabi: boot markers on the marker
// port, messages (events, results, the verdict) as lines on the message
// port, and the verdict's byte on the exit port, which ends the VM under
// gonest and under QEMU's isa-debug-exit.
//
// The ports are written with package portio (ioperm and outb, no
// /dev/port), so the same init reports under every distro kernel. Where
// that is refused (not root, no ioperm), a Reporter says so once and
// drops what it is given: a guest that cannot report still runs.
package report
