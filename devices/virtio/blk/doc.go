// Package blk is the virtio block device (virtio 1.2 §5.2): a disk image
// on the host, seen by the guest as /dev/vda.
//
// Open takes a disk.Spec, which disk.ParseSpec makes from the command
// line's -disk PATH[,ro][,serial=ID], and opens the image through package
// disk: read-write and locked exclusively, or with ro O_RDONLY with a
// shared lock. Its size, in 512-byte sectors, is the capacity in the
// configuration space, together with seg_max, blk_size and the discard and
// write-zeroes limits.
//
// Features: VERSION_1 (from the transport), SEG_MAX, BLK_SIZE, FLUSH, and
// RO for a read-only disk; a writable disk also offers WRITE_ZEROES and,
// when fallocate(PUNCH_HOLE) works on the image's file system, DISCARD.
//
// The transport (virtio.PCI) starts one worker goroutine per queue at
// DRIVER_OK; the vCPU thread only kicks it. The worker walks each chain
// (package virtio) and request.go executes it:
//
//   - the first 16 device-readable bytes are the header (type, reserved,
//     sector), however the driver split them across buffers; the last
//     device-writable byte is the status;
//   - IN and OUT move whole 512-byte sectors inside the capacity with one
//     preadv/pwritev straight between the image and guest memory, no copy;
//   - FLUSH is fdatasync; GET_ID writes the 20-byte serial;
//   - DISCARD punches holes; WRITE_ZEROES punches (when the driver allows
//     unmapping) or zeroes the range (ZERO_RANGE, or plain writes);
//   - anything malformed (a buffer outside RAM, a short header, a length
//     that is not whole sectors, a range past the end, a write to a
//     read-only disk) is VIRTIO_BLK_S_IOERR; an unknown type, or a flag the
//     specification says to refuse, is VIRTIO_BLK_S_UNSUPP.
//
// Only a request with nowhere to put a status byte cannot be answered;
// then the queue stops and the device asks the driver for a reset.
//
// Close stops the workers (a request being executed completes; queued
// ones are dropped), fdatasyncs and closes the image, so everything the
// guest flushed, and everything it completed, is on disk.
package blk
