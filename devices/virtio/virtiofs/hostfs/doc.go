// Package hostfs serves one host directory tree to a FUSE client, the
// guest kernel behind virtio-fs, and keeps every operation inside that
// tree whatever the client sends. It implements go-fuse's
// fuse.RawFileSystem; package virtiofs feeds it requests.
//
// # Confinement
//
// The design is virtiofsd's. Every inode the guest knows is a host O_PATH
// file descriptor in a table keyed by node ID; the shared directory itself
// is node 1. A host path string is never built or resolved:
//
//   - A name from the guest must be one path component: not empty, at most
//     255 bytes, no '/', no NUL, not "." or "..". Anything else is EINVAL
//     before a system call is made.
//   - LOOKUP opens the name relative to its parent's descriptor with
//     openat2(O_PATH|O_NOFOLLOW, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|
//     RESOLVE_NO_MAGICLINKS), falling back to openat(O_PATH|O_NOFOLLOW) on
//     kernels without openat2 (before 5.6), which is as strict for a single
//     component. A symlink becomes a node of its own; the guest reads it
//     with READLINK and resolves the target in its own namespace, so an
//     absolute or "../.." target names guest paths, never host ones.
//   - OPEN, OPENDIR, truncation and chmod reopen the inode itself through
//     /proc/self/fd/N, so a name swapped for a symlink between LOOKUP and
//     OPEN changes nothing: the descriptor pins the inode that was looked
//     up. Only regular files are opened (directories by OPENDIR); a
//     symlink is ELOOP, a device or FIFO EACCES, so no host device is ever
//     opened for the guest. GETATTR, READLINK, chown and utimes act on the
//     O_PATH descriptor with AT_EMPTY_PATH.
//   - CREATE, MKDIR, MKNOD, SYMLINK, LINK, UNLINK, RMDIR and RENAME take a
//     parent descriptor and a checked name, so nothing can be created,
//     removed or renamed outside the tree. CREATE uses openat2 with
//     O_NOFOLLOW, so a dangling symlink is never followed to create its
//     target. LINK links the inode behind a descriptor
//     (linkat of /proc/self/fd/N with AT_SYMLINK_FOLLOW), which the guest
//     could only have got by looking it up inside the tree.
//   - A descriptor in use by a request holds a reference: a FORGET or
//     RELEASE racing with it (a hostile guest can send them on another
//     queue) closes it only when the request is done, so a descriptor
//     number is never reused under a request that still holds it.
//
// A mount point inside the tree is crossed like any directory: sharing
// the host's / shows its /proc and /sys. The guest's magic links there
// (/proc/self/root, ...) are symlinks to it, resolved in its namespace.
// When the guest's kernel automounts submounts (FUSE_SUBMOUNTS at INIT,
// which Linux's virtio-fs sends), a directory on another host file system
// than its parent carries FUSE_ATTR_SUBMOUNT: the guest mounts it with a
// device number of its own, so inode numbers of two host file systems
// never look like one file (to find, tar or cp -a), as with virtiofsd.
//
// # Credentials and ownership
//
// Every host operation runs with gonest's own credentials: the guest can
// do exactly what the host user could, no more. The guest's caller
// uid/gid in each request are not used. Attributes are reported as the
// host has them, so a guest program running as the host user's uid (as
// gonest exec runs it) owns its files. Because a gonest run as root
// would otherwise hand root's powers to the guest, the guest may not:
// set the set-user-ID bit, or set-group-ID on a non-directory (the bits
// are cleared on create and chmod); create device nodes (MKNOD of a
// character or block device is EPERM; regular files, FIFOs and sockets
// are fine, and are never opened on the host); or give a file to another
// owner (chown only to gonest's own uid, or one of its groups; anything
// else is EPERM, as it is for an unprivileged host user).
//
// # Read-only shares
//
// With ReadOnly every operation that would change the tree (CREATE,
// MKDIR, MKNOD, SYMLINK, LINK, UNLINK, RMDIR, RENAME, SETATTR, WRITE,
// FALLOCATE, and OPEN for writing) is EROFS before it reaches the host,
// and files are opened O_NOATIME where the host allows it, so reading
// does not even move their access times.
//
// # POSIX behaviour
//
// A file the guest unlinks while it has it open stays readable and
// fstat-able through its descriptors. Hard links inside the tree share one
// node (the table is also keyed by device and inode number). READDIRPLUS
// returns each entry's attributes with the listing, continuing from the
// directory's last getdents64 buffer when the guest reads on, so a
// directory of ten thousand files costs one system call per buffer. READ
// and WRITE move data with preadv/pwritev straight between the host file
// and guest memory. FSYNC is fsync or fdatasync; entries and attributes
// are valid in the guest for one second, so host-side changes show up
// within a second.
//
// Each node the guest's kernel keeps cached holds one host descriptor, so
// New raises gonest's RLIMIT_NOFILE as far as it may (limits.go); past
// that, LOOKUP and OPEN fail with EMFILE, logged once, until the guest
// forgets nodes.
//
// Extended attributes, locks, ioctl and the rest of FUSE are not served
// (package virtiofs answers ENOSYS, which makes the kernel stop asking,
// or fall back to local locking).
package hostfs
