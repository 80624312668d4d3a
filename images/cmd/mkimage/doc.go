// Command mkimage builds the guest artifacts the Makefile asks for. Each
// subcommand is one step of the images pipeline:
//
//	mkimage modules   -from DIR -to DIR [-config FILE] NAME...   pick modules and their dependencies
//	mkimage kernelpkg [-version V] [-flavour F] <NAMES   pick a Debian kernel package
//	mkimage vmlinux   -from vmlinuz -to vmlinux   unpack the ELF kernel inside a bzImage
//	mkimage initramfs -o OUT [-base CPIO]... [-file SRC:DST]... [-tree SRC:DST]... [-symlink DST:TARGET]...
//	mkimage list      FILE                        list an initramfs (gzip or plain)
//	mkimage diskfiles -o DIR                      the test disk's known files and SHA256SUMS
//
// modules reads the .modinfo of every module in an unpacked Debian kernel
// package (package images/kmod), plain or compressed (images/kmod/modfile),
// and copies only the wanted ones and their dependencies, uncompressed,
// with a modules.dep the guest's init reads back. A wanted module the
// kernel has built in (modules.builtin) is skipped, and said so; one that
// is neither there nor built in stops it with the config option the kernel
// lacks (from -config, Debian's boot/config-<release>).
//
// kernelpkg picks, from the package names apt knows, the newest unsigned
// kernel image of a version and flavour (package images/debkernel), or
// names the flavour's meta package; a version or flavour that matches
// nothing is one line listing those that exist.
//
// initramfs writes one gzip stream holding the base archives (u-root's
// output) unchanged, then a newc archive of the listed files (package
// images/cpio) with /dev/console, /proc, /sys and /tmp. The output is
// deterministic and rewritten only when its bytes change, so make's
// timestamps stay a faithful cache key.
//
// diskfiles writes DIR/known/ from package internal/diskfiles: files of
// mixed sizes whose bytes follow from their seeds, and a SHA256SUMS that
// gonest-init checks in G1 and the lab test checks again on the host.
package main
