// Package diskfiles generates the files of the virtio-blk integrity tests
// from numbers alone, so that three parties agree on every byte without
// passing the bytes around:
//
//   - the images pipeline (mkimage diskfiles) puts the Known files and
//     their SHA256SUMS on disk.ext4;
//   - gonest-init in G1 checks the Known files through gonest's virtio-blk
//     and writes the Written files (200 of them, 0 B to 1 MiB);
//   - the lab test, after QEMU exits, reads the image back on this machine
//     (debugfs, no root, no loop device) and compares every file again.
//
// A File is a path, a size and a seed; its contents are the little-endian
// output of SplitMix64 started at the seed, cut to the size. Changing the
// generator changes every checksum, so the images must be rebuilt with it
// (make images does, since mkimage links this package).
package diskfiles
