package virtio

// Feature bits the transport and the split ring understand (virtio 1.2 §6).
const (
	FeatureRingIndirectDesc = 1 << 28 // VIRTIO_RING_F_INDIRECT_DESC: descriptors may point at descriptor tables
	FeatureRingEventIdx     = 1 << 29 // VIRTIO_RING_F_EVENT_IDX: used_event/avail_event suppress notifications
	FeatureVersion1         = 1 << 32 // VIRTIO_F_VERSION_1: a modern (non-legacy) device
	FeatureAccessPlatform   = 1 << 33 // VIRTIO_F_ACCESS_PLATFORM: DMA goes through an IOMMU (not offered)
	FeatureRingPacked       = 1 << 34 // VIRTIO_F_RING_PACKED: packed virtqueues (not offered)
	FeatureRingReset        = 1 << 40 // VIRTIO_F_RING_RESET: per-queue reset (not offered)

	// transportFeatures are offered by every device on this transport.
	transportFeatures = FeatureVersion1 | FeatureRingIndirectDesc | FeatureRingEventIdx
)

// Device status bits (virtio 1.2 §2.1).
const (
	StatusAcknowledge = 1    // VIRTIO_CONFIG_S_ACKNOWLEDGE: the guest found the device
	StatusDriver      = 2    // VIRTIO_CONFIG_S_DRIVER: the guest has a driver for it
	StatusDriverOK    = 4    // VIRTIO_CONFIG_S_DRIVER_OK: the driver is ready; the device goes live
	StatusFeaturesOK  = 8    // VIRTIO_CONFIG_S_FEATURES_OK: feature negotiation is complete
	StatusNeedsReset  = 0x40 // VIRTIO_CONFIG_S_NEEDS_RESET: the device hit an error it cannot recover from
	StatusFailed      = 0x80 // VIRTIO_CONFIG_S_FAILED: the driver gave up on the device
)

// Split virtqueue flags (virtio 1.2 §2.7).
const (
	DescFlagNext         = 1 // VIRTQ_DESC_F_NEXT: the chain continues at the next field
	DescFlagWrite        = 2 // VIRTQ_DESC_F_WRITE: device-writable buffer (otherwise device-readable)
	DescFlagIndirect     = 4 // VIRTQ_DESC_F_INDIRECT: the buffer is a table of descriptors
	AvailFlagNoInterrupt = 1 // VIRTQ_AVAIL_F_NO_INTERRUPT: the driver asks for no used-buffer interrupts
	UsedFlagNoNotify     = 1 // VIRTQ_USED_F_NO_NOTIFY: the device asks for no kicks (gonest never sets it)
)

// Sizes and alignments of the split virtqueue parts (virtio 1.2 §2.7).
const (
	descSize        = 16 // struct virtq_desc
	usedElemSize    = 8  // struct virtq_used_elem
	descAlign       = 16 // Descriptor Table alignment
	availAlign      = 2  // Available Ring alignment
	usedAlign       = 4  // Used Ring alignment
	ringHeader      = 4  // flags and idx, both rings
	ringIdxOffset   = 2  // idx inside a ring
	eventFieldSize  = 2  // used_event / avail_event
	descAddrOffset  = 0
	descLenOffset   = 8
	descFlagsOffset = 12
	descNextOffset  = 14

	// MaxQueueSize is the largest split virtqueue (virtio 1.2 §2.7).
	MaxQueueSize = 32768
	// MaxIndirectDescriptors caps an indirect table; 1024 is also Linux's
	// IOV_MAX, so a whole chain fits one preadv/pwritev.
	MaxIndirectDescriptors = 1024
)

// NoVector is the MSI-X vector value that means no interrupt.
const NoVector = 0xFFFF // VIRTIO_MSI_NO_VECTOR

// ISR status bits (virtio 1.2 §4.1.4.5).
const (
	ISRQueue  = 1 << 0 // a used buffer notification
	ISRConfig = 1 << 1 // a configuration change notification
)
