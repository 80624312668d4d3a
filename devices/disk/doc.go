// Package disk is what every emulated disk shares: the -disk argument and
// the image file behind it.
//
// ParseSpec reads -disk PATH[,ro][,serial=ID][,if=virtio|ide]. A comma in
// PATH or ID is written twice; if= picks the bus (virtio-blk by default,
// or the PCI IDE controller), and the board (package machine) attaches the
// disk there.
//
// Open opens the image, a regular file or a block device (the lab hands
// gonest its own /dev/vdX): read-write with an exclusive flock, or with ro
// O_RDONLY with a shared one, so two VMs never write one image. Its size in
// 512-byte sectors is what the guest sees; a partial last sector is
// logged and left out. The serial number is the spec's, or the file name
// with the characters that /dev/disk/by-id names cannot hold replaced.
//
// Image reads and writes whole buffers at byte offsets (a short transfer
// is an error, EINTR is retried), Sync is fdatasync, and Close syncs and
// closes, so whatever the guest wrote is on the host's disk when gonest
// exits. Devices check every guest-supplied sector range against Sectors
// before they call it; Image does not know the guest.
package disk
