// Command mkimage builds the guest artifacts the Makefile asks for. Each
// subcommand is one step of the images pipeline:
//
//	mkimage modules   -from DIR -to DIR NAME...   pick modules and their dependencies
//	mkimage vmlinux   -from vmlinuz -to vmlinux   unpack the ELF kernel inside a bzImage
//	mkimage initramfs -o OUT [-base CPIO]... [-file SRC:DST]... [-tree SRC:DST]... [-symlink DST:TARGET]...
//	mkimage list      FILE                        list an initramfs (gzip or plain)
//	mkimage diskfiles -o DIR                      the test disk's known files and SHA256SUMS
//
// modules reads the .modinfo of every module in an unpacked Debian kernel
// package (package images/kmod) and copies only the wanted ones and their
// dependencies, with a modules.dep the guest's init reads back.
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
