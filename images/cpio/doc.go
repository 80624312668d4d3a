// Package cpio writes and reads the "newc" cpio archives the Linux kernel
// unpacks as an initramfs (Documentation/driver-api/early-userspace/
// buffer-format.rst).
//
// A newc archive is a list of entries, each a 110-byte ASCII header
// ("070701" and thirteen 8-digit hex fields), the NUL-terminated name padded
// to 4 bytes, then the data padded to 4 bytes, ended by an entry named
// "TRAILER!!!". The kernel accepts several archives one after another, each
// optionally compressed, which the images pipeline uses to put its own files
// after u-root's.
//
// The Writer is deterministic: inode numbers count up from 1, and owner and
// modification time are always 0, so an image built twice from the same
// inputs is the same bytes and the build cache can compare them. It creates
// missing parent directories itself. The Reader exists for tests and for
// listing an image; it bounds every size it reads.
package cpio
