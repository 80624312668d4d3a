package vconsole

// DeviceType is the virtio device ID of a console.
const DeviceType = 3

// Feature bits (virtio 1.2 §5.3.3).
const (
	FeatureSize       = 1 << 0 // VIRTIO_CONSOLE_F_SIZE: cols and rows are valid (not offered: no console port)
	FeatureMultiport  = 1 << 1 // VIRTIO_CONSOLE_F_MULTIPORT: several ports and the control queues
	FeatureEmergWrite = 1 << 2 // VIRTIO_CONSOLE_F_EMERG_WRITE (not offered)
)

// struct virtio_console_config (virtio 1.2 §5.3.4).
const (
	cfgCols       = 0 // le16
	cfgRows       = 2 // le16
	cfgMaxNrPorts = 4 // le32
	cfgEmergWr    = 8 // le32
	configSize    = 12
)

// Control events (virtio 1.2 §5.3.6.2, include/uapi/linux/virtio_console.h).
const (
	EventDeviceReady  = 0 // VIRTIO_CONSOLE_DEVICE_READY: driver → device, value 1 ok / 0 failed
	EventPortAdd      = 1 // VIRTIO_CONSOLE_DEVICE_ADD: device → driver, a port exists
	EventPortRemove   = 2 // VIRTIO_CONSOLE_DEVICE_REMOVE (not sent)
	EventPortReady    = 3 // VIRTIO_CONSOLE_PORT_READY: driver → device, value 1 ok / 0 failed
	EventConsolePort  = 4 // VIRTIO_CONSOLE_CONSOLE_PORT (not sent: no port is an hvc console)
	EventResize       = 5 // VIRTIO_CONSOLE_RESIZE (not sent)
	EventPortOpen     = 6 // VIRTIO_CONSOLE_PORT_OPEN: both ways, value 1 open / 0 closed
	EventPortName     = 7 // VIRTIO_CONSOLE_PORT_NAME: device → driver, the name follows
	controlSize       = 8 // struct virtio_console_control: le32 id, le16 event, le16 value
	controlID         = 0
	controlEvent      = 4
	controlValue      = 6
	badID             = 0xFFFFFFFF // VIRTIO_CONSOLE_BAD_ID: DEVICE_READY names no port
	maxControlMessage = 4096       // what one control buffer may carry from the driver
)

// Queues (virtio 1.2 §5.3.2): port 0's receiveq and transmitq, the
// control receiveq and transmitq, then each further port's pair.
const (
	controlRxQueue = 2 // device → driver control messages
	controlTxQueue = 3 // driver → device control messages

	dataQueueSize    = 256 // Linux fills a receiveq with one 4 KiB buffer per entry (fill_queue)
	controlQueueSize = 64
)

// rxQueue and txQueue return the queues of port id.
func rxQueue(id uint32) int {
	if id == 0 {
		return 0
	}
	return 2 + 2*int(id)
}

func txQueue(id uint32) int { return rxQueue(id) + 1 }

// Limits.
const (
	// MaxPorts is how many named ports one device carries (QEMU's default
	// max_nr_ports is 31, port 0 included).
	MaxPorts = 30
	// NameMax is the longest port name: a file name, for udev's
	// /dev/virtio-ports/NAME.
	NameMax = 255
	// readChunk is how much of a port's input is read from the host at a
	// time, and so how far gonest reads ahead of the guest.
	readChunk = 64 << 10
	// maxPendingControl bounds the device's control messages waiting for
	// receive buffers; only a driver that sends DEVICE_READY again and
	// again without giving buffers reaches it.
	maxPendingControl = 4*MaxPorts + 16
)
