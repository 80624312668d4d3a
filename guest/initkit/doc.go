// Package initkit holds the pieces of a guest's PID 1 that any gonest
// guest init needs, whatever it then runs: the boot mounts, the kernel
// command line, the console log format, kernel modules (in dependency
// order from the image's modules.dep; a module the kernel has built in,
// listed in modules.builtin, counts as present), the CPU's flags, and the
// disks a level finds by ext4 label or virtio serial, among them the next
// level's images at guestabi.NextDir.
//
// cmd/gonest-init is built from it; so can be any other init that boots
// under gonest and reports through package guest/report.
package initkit
