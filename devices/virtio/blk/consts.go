package blk

// DeviceType is the virtio device ID of a block device.
const DeviceType = 2

// Feature bits (virtio 1.2 §5.2.3).
const (
	FeatureSizeMax     = 1 << 1  // VIRTIO_BLK_F_SIZE_MAX: size_max is valid (not offered)
	FeatureSegMax      = 1 << 2  // VIRTIO_BLK_F_SEG_MAX: seg_max is valid
	FeatureGeometry    = 1 << 4  // VIRTIO_BLK_F_GEOMETRY (not offered)
	FeatureRO          = 1 << 5  // VIRTIO_BLK_F_RO: the disk is read-only
	FeatureBlkSize     = 1 << 6  // VIRTIO_BLK_F_BLK_SIZE: blk_size is valid
	FeatureFlush       = 1 << 9  // VIRTIO_BLK_F_FLUSH: VIRTIO_BLK_T_FLUSH is supported
	FeatureTopology    = 1 << 10 // VIRTIO_BLK_F_TOPOLOGY (not offered)
	FeatureConfigWCE   = 1 << 11 // VIRTIO_BLK_F_CONFIG_WCE (not offered)
	FeatureMQ          = 1 << 12 // VIRTIO_BLK_F_MQ (not offered)
	FeatureDiscard     = 1 << 13 // VIRTIO_BLK_F_DISCARD: discard is supported
	FeatureWriteZeroes = 1 << 14 // VIRTIO_BLK_F_WRITE_ZEROES: write zeroes is supported
)

// Request types (virtio 1.2 §5.2.6).
const (
	TypeIn          = 0  // VIRTIO_BLK_T_IN: read sectors
	TypeOut         = 1  // VIRTIO_BLK_T_OUT: write sectors
	TypeFlush       = 4  // VIRTIO_BLK_T_FLUSH: make completed writes stable
	TypeGetID       = 8  // VIRTIO_BLK_T_GET_ID: read the device ID string
	TypeGetLifetime = 10 // VIRTIO_BLK_T_GET_LIFETIME (unsupported)
	TypeDiscard     = 11 // VIRTIO_BLK_T_DISCARD: deallocate sectors
	TypeWriteZeroes = 13 // VIRTIO_BLK_T_WRITE_ZEROES: zero sectors
	TypeSecureErase = 14 // VIRTIO_BLK_T_SECURE_ERASE (unsupported)
)

// Request status values.
const (
	StatusOK     = 0 // VIRTIO_BLK_S_OK
	StatusIOErr  = 1 // VIRTIO_BLK_S_IOERR: device or driver error
	StatusUnsupp = 2 // VIRTIO_BLK_S_UNSUPP: request not supported
)

// Request layout.
const (
	SectorSize    = 512 // the unit of sector, capacity and data lengths
	headerSize    = 16  // le32 type, le32 reserved, le64 sector
	hdrType       = 0
	hdrSector     = 8
	segmentSize   = 16 // struct virtio_blk_discard_write_zeroes
	segSector     = 0  // le64 sector
	segNumSectors = 8  // le32 num_sectors
	segFlags      = 12 // le32 flags
	SegFlagUnmap  = 1  // VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP: the range may be deallocated
	// IDBytes is the length of the GET_ID string.
	IDBytes = 20 // VIRTIO_BLK_ID_BYTES
)

// Device limits, advertised in the configuration space.
const (
	queueSize             = 256
	segMax                = queueSize - 2 // a request's data buffers, besides header and status
	maxDiscardSectors     = 1 << 23       // 4 GiB per segment
	maxDiscardSeg         = 32
	discardAlignment      = 8 // sectors: the 4 KiB block of common file systems
	maxWriteZeroesSectors = 1 << 23
	maxWriteZeroesSeg     = 32
)

// struct virtio_blk_config offsets (virtio 1.2 §5.2.4).
const (
	cfgCapacity               = 0  // le64, in 512-byte sectors
	cfgSizeMax                = 8  // le32
	cfgSegMax                 = 12 // le32
	cfgGeometry               = 16 // le16 cylinders, u8 heads, u8 sectors
	cfgBlkSize                = 20 // le32
	cfgTopology               = 24 // u8 physical_block_exp, u8 alignment_offset, le16 min_io_size, le32 opt_io_size
	cfgWriteback              = 32 // u8
	cfgNumQueues              = 34 // le16
	cfgMaxDiscardSectors      = 36 // le32
	cfgMaxDiscardSeg          = 40 // le32
	cfgDiscardSectorAlignment = 44 // le32
	cfgMaxWriteZeroesSectors  = 48 // le32
	cfgMaxWriteZeroesSeg      = 52 // le32
	cfgWriteZeroesMayUnmap    = 56 // u8
	configSize                = 60
)
