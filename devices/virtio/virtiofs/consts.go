package virtiofs

// DeviceType is the virtio device ID of a file system device.
const DeviceType = 26

// struct virtio_fs_config (virtio 1.2 §5.11.4).
const (
	cfgTag              = 0  // char tag[36]: UTF-8, NUL-padded, not NUL-terminated when 36 long
	cfgNumRequestQueues = 36 // le32 num_request_queues
	configSize          = 40 // notify_buf_size follows only with VIRTIO_FS_F_NOTIFICATION (not offered)

	// TagMax is the longest tag the configuration space holds.
	TagMax = 36
)

// Queues (virtio 1.2 §5.11.2): the high-priority queue (FORGET and
// BATCH_FORGET from Linux), then the request queues. Linux's driver sends
// every request to the first request queue (fs/fuse/virtio_fs.c,
// virtio_fs_wake_pending_and_unlock), so gonest offers one.
const (
	hiprioQueue      = 0
	numRequestQueues = 1

	hiprioQueueSize = 128
	// requestQueueSize bounds a request's scatter list: Linux splits
	// requests into at most queue size - 4 pages (virtio_fs_get_tree,
	// FUSE_HEADER_OVERHEAD), so 1024 allows the full 256-page (1 MiB)
	// READ and WRITE that MaxWrite asks for.
	requestQueueSize = 1024
)

// MaxWrite is the largest READ and WRITE payload negotiated at INIT
// (max_write, and max_pages = 256): Linux's FUSE_MAX_MAX_PAGES of 4 KiB
// pages (fs/fuse/fuse_i.h).
const MaxWrite = 1 << 20

// FUSE opcodes gonest serves (include/uapi/linux/fuse.h, enum
// fuse_opcode). Everything else is answered ENOSYS by the decoder.
const (
	opLookup      = 1
	opForget      = 2
	opGetattr     = 3
	opSetattr     = 4
	opReadlink    = 5
	opSymlink     = 6
	opMknod       = 8
	opMkdir       = 9
	opUnlink      = 10
	opRmdir       = 11
	opRename      = 12
	opLink        = 13
	opOpen        = 14
	opRead        = 15
	opWrite       = 16
	opStatfs      = 17
	opRelease     = 18
	opFsync       = 20
	opFlush       = 25
	opInit        = 26
	opOpendir     = 27
	opReaddir     = 28
	opReleasedir  = 29
	opFsyncdir    = 30
	opCreate      = 35
	opDestroy     = 38
	opBatchForget = 42
	opFallocate   = 43
	opReaddirplus = 44
	opRename2     = 45
	opLseek       = 46
	opSyncfs      = 50
)

// Wire sizes (include/uapi/linux/fuse.h).
const (
	inHeaderSize  = 40 // struct fuse_in_header
	outHeaderSize = 16 // struct fuse_out_header

	// struct fuse_in_header fields.
	inLen         = 0  // u32 len: the whole request
	inOpcode      = 4  // u32 opcode
	inUnique      = 8  // u64 unique
	inNodeID      = 16 // u64 nodeid
	inTotalExtlen = 36 // u16 total_extlen, in 8-byte units

	// struct fuse_out_header fields.
	outLen    = 0 // u32 len
	outError  = 4 // i32 error: 0 or a negative errno
	outUnique = 8 // u64 unique

	// struct fuse_read_in (READ, READDIR, READDIRPLUS) and
	// struct fuse_write_in: size, after fh and offset.
	ioSize = 16

	// struct fuse_init_in: major, minor and flags.
	initMajor = 0
	initMinor = 4
	initFlags = 12
	// FUSE_SUBMOUNTS in fuse_init_in.flags: the kernel automounts
	// directories whose attributes carry FUSE_ATTR_SUBMOUNT.
	fuseSubmounts = 1 << 27

	fuseMajor    = 7  // FUSE_KERNEL_VERSION
	fuseMinorMin = 12 // the oldest minor go-fuse speaks (_MINIMUM_MINOR_VERSION)

	// maxBody bounds the body of every request but WRITE: its fixed part
	// plus two names (NAME_MAX) or a name and a symlink target (PATH_MAX).
	maxBody = 16 << 10
)

// opInfo says how the decoder checks an opcode before go-fuse sees it.
type opInfo struct {
	minBody int  // the fixed input struct, as old kernels send it
	noReply bool // FORGET and BATCH_FORGET get none
	sized   bool // ioSize holds a payload size to cap at MaxWrite
	write   bool // the body carries WRITE data after the fixed part
	mutates bool // refused on a read-only share before it reaches the file system
	names   bool // a name follows the fixed part
}

// ops lists the served opcodes with their fixed input sizes.
var ops = map[uint32]opInfo{
	opLookup:      {names: true},
	opForget:      {minBody: 8, noReply: true},               // fuse_forget_in
	opGetattr:     {minBody: 16},                             // fuse_getattr_in
	opSetattr:     {minBody: 88},                             // fuse_setattr_in
	opReadlink:    {},                                        //
	opSymlink:     {mutates: true, names: true},              // two names
	opMknod:       {minBody: 16, mutates: true, names: true}, // fuse_mknod_in
	opMkdir:       {minBody: 8, mutates: true, names: true},  // fuse_mkdir_in
	opUnlink:      {mutates: true, names: true},              //
	opRmdir:       {mutates: true, names: true},              //
	opRename:      {minBody: 8, mutates: true, names: true},  // fuse_rename_in
	opLink:        {minBody: 8, mutates: true, names: true},  // fuse_link_in
	opOpen:        {minBody: 8},                              // fuse_open_in
	opRead:        {minBody: 40, sized: true},                // fuse_read_in
	opWrite:       {minBody: 40, sized: true, write: true, mutates: true},
	opStatfs:      {},
	opRelease:     {minBody: 24},                             // fuse_release_in
	opFsync:       {minBody: 16},                             // fuse_fsync_in
	opFlush:       {minBody: 24},                             // fuse_flush_in
	opInit:        {minBody: 16},                             // fuse_init_in before 7.36
	opOpendir:     {minBody: 8},                              // fuse_open_in
	opReaddir:     {minBody: 40, sized: true},                // fuse_read_in
	opReleasedir:  {minBody: 24},                             // fuse_release_in
	opFsyncdir:    {minBody: 16},                             // fuse_fsync_in
	opCreate:      {minBody: 16, mutates: true, names: true}, // fuse_create_in
	opDestroy:     {},                                        //
	opBatchForget: {minBody: 8, noReply: true},               // fuse_batch_forget_in
	opFallocate:   {minBody: 32, mutates: true},              // fuse_fallocate_in
	opReaddirplus: {minBody: 40, sized: true},                // fuse_read_in
	opRename2:     {minBody: 16, mutates: true, names: true}, // fuse_rename2_in
	opLseek:       {minBody: 24},                             // fuse_lseek_in
	opSyncfs:      {minBody: 8},                              // fuse_syncfs_in
}
