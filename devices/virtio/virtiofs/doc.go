// Package virtiofs is the virtio file system device (virtio 1.2 §5.11,
// device ID 26): a host directory the guest mounts with
// `mount -t virtiofs TAG /mnt`. The protocol on its queues is FUSE
// (include/uapi/linux/fuse.h); the host side is served inside the gonest
// process, with no external daemon.
//
// New takes a Spec, which ParseSpec makes from the command line's
// -fs HOSTDIR,tag=TAG[,ro]. The configuration space holds the tag (up to
// 36 bytes) and num_request_queues = 1. The queues are the high-priority
// queue (Linux sends FORGET there) and one request queue of 1024 entries,
// enough for Linux to send 1 MiB READs and WRITEs (fs/fuse/virtio_fs.c,
// virtio_fs_get_tree, caps a request at the queue size minus 4 pages).
// Linux uses only the first request queue (virtio_fs_wake_pending_and_unlock),
// so one is offered. VIRTIO_FS_F_NOTIFICATION is not offered.
//
// # No DAX window
//
// The optional DAX window (a shared memory region, §5.11.5) lets the
// guest map host file pages into its address space instead of copying
// them into its own page cache. gonest does not offer it: the
// virtio-pci transport has no shared memory capability, and the window
// would need FUSE SETUPMAPPING/REMOVEMAPPING to mmap file ranges into a
// KVM memory slot on demand. What it buys (one page cache for host and
// guest, mostly for many guests sharing one tree) matters little to a
// short-lived test guest, and data already moves without a copy in
// gonest: READ and WRITE go between the host file and guest memory with
// preadv and pwritev. Linux mounts without it ("No cache capability").
//
// # Requests
//
// Each queue has a worker goroutine (virtio.Serve); the chain walker of
// package virtio has already checked every buffer. The worker's decoder
// (request.go) then checks the request before any FUSE code sees it:
//
//   - the 40-byte fuse_in_header must be there and its len must cover
//     the header and fit in the chain (bytes after len are ignored);
//   - only the opcodes gonest serves get further (consts.go, ops); any
//     other is ENOSYS, which also makes Linux stop sending it (extended
//     attributes, locks, ACCESS) or fall back (COPY_FILE_RANGE);
//   - the body must hold the opcode's fixed input struct and at most
//     16 KiB (WRITE: its data, up to MaxWrite, 1 MiB), and carry no
//     request extensions (none are negotiated);
//   - READ, READDIR and READDIRPLUS may ask for at most MaxWrite bytes,
//     so a guest cannot make gonest allocate more;
//   - on a read-only share every opcode that changes the tree is EROFS;
//   - a request with no room for its 16-byte reply cannot be answered:
//     the queue stops and the device asks for a reset, as virtio-blk does.
//
// Everything else is malformed in a way the reply can say: it gets an
// error reply, never a panic. SYNCFS (the guest's sync(2): syncfs of the
// host file system) and DESTROY (forget every node and handle) are
// answered by the decoder; the rest goes to go-fuse.
//
// # go-fuse's protocol server
//
// github.com/hanwen/go-fuse/v2 (v2.12.1) has fuse.NewProtocolServer,
// whose HandleRequest(in, out [][]byte) parses a request from a scatter
// list, calls a fuse.RawFileSystem and writes the reply into another: a
// maintained FUSE implementation (opcode tables, struct layouts, INIT
// negotiation, READDIRPLUS encoding) that takes virtio buffers as they
// are. gonest uses it, behind the decoder, after reading it for what a
// hostile guest could do with it:
//
//   - it copies the header and fixed body into its own buffer and checks
//     that buffer's length against the opcode's struct before casting, so
//     every fixed field it reads is in bounds; names are cut at the first
//     NUL (or the payload end) and copied into strings, which hostfs then
//     checks, so the guest rewriting its buffer afterwards changes
//     nothing; extension records and BATCH_FORGET counts are
//     bounds-checked; replies are cut to the writable length;
//   - it ignores fuse_in_header.len (the decoder enforces it);
//   - a size the guest gives (READ, READDIR, xattrs) becomes an
//     allocation when the reply buffer is split, bounded only by that
//     buffer (the decoder caps sizes and does not pass the xattr opcodes);
//   - a short request, a bad INIT version or an unknown error type is
//     logged through the standard library's global logger, which a guest
//     could flood (the decoder refuses such requests first; go-fuse's own
//     logger is limited to 20 debug lines per session);
//   - it answers node ID 2^64-1 and the name ".go-fuse-epoll-hack" in the
//     root with made-up data, a workaround only its /dev/fuse mounts need
//     (fuse/poll.go); the decoder answers those instead (EBADF, ENOENT);
//   - INIT records the negotiated settings without a lock, so the device
//     runs INIT alone;
//   - the file system's panics are recovered into EIO; the decoder
//     recovers any other panic the same way and logs it once.
//
// FuzzRequest runs arbitrary requests, split over descriptors every
// which way, through the decoder, go-fuse and hostfs on a real directory.
//
// # The file system
//
// Package hostfs is the fuse.RawFileSystem: every node an O_PATH
// descriptor, every name one checked component resolved with openat2
// under its parent's descriptor, every open a reopen of the inode
// itself, gonest's own credentials for every host operation. Its package
// comment has the confinement rules and the uid/gid policy.
package virtiofs
