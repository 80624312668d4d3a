package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/gonest/gonest/devices"
	"github.com/gonest/gonest/devices/pci"
	"github.com/gonest/gonest/guestmem"
)

// Backend is a virtio device type (block, network, ...) behind a transport.
type Backend interface {
	// DeviceType returns the virtio device ID (2 for block).
	DeviceType() uint16
	// Features returns the device-type feature bits the device offers;
	// the transport adds VERSION_1, INDIRECT_DESC and EVENT_IDX.
	Features() uint64
	// QueueSizes returns each queue's maximum size (a power of two); its
	// length is the number of queues.
	QueueSizes() []uint16
	// ReadConfig and WriteConfig access the device-specific
	// configuration space at offset.
	ReadConfig(offset uint64, data []byte)
	WriteConfig(offset uint64, data []byte)
	// Activate starts the device when the driver sets DRIVER_OK.
	Activate(a Activation) error
	// Reset stops the device. When it returns, nothing of the backend
	// touches guest memory or the queues.
	Reset()
}

// Activation is what a backend gets at DRIVER_OK.
type Activation struct {
	Memory *guestmem.Memory
	// Features are the negotiated feature bits.
	Features uint64
	// Queues holds one entry per queue; nil for a queue the driver did not
	// enable.
	Queues []*Queue
}

// PCIOptions configure the PCI transport.
type PCIOptions struct {
	// Memory is guest RAM, where the driver puts the rings and buffers.
	Memory *guestmem.Memory
	// Class is the PCI class code; 0 picks one from the device type.
	Class uint32
	// Notifier registers notify addresses as KVM ioeventfds. Nil leaves
	// notifications as MMIO exits.
	Notifier Notifier
	// MSI delivers MSI-X interrupts. Nil means no MSI-X capability.
	MSI pci.MSIRouter
	// INTx is the function's INTA# line. Nil means no INTx pin.
	INTx devices.InterruptLine
	// Logger receives rare events; nil discards them.
	Logger *slog.Logger
}

// Layout of BAR 0, one 4 KiB page per structure so that the MSI-X table
// and pending bits share a page with nothing else (PCI 3.0 §6.8.2).
const (
	barIndex         = 0
	barSize          = 0x8000
	commonOffset     = 0x0000
	isrOffset        = 0x1000
	deviceOffset     = 0x2000
	notifyOffset     = 0x3000
	msixTableOffset  = 0x4000
	msixPBAOffset    = 0x5000
	regionSize       = 0x1000
	notifyMultiplier = 4 // queue_notify_off * 4: every queue has its own address
	maxQueues        = regionSize / notifyMultiplier
	isrLength        = 1
)

// Virtio PCI capability layout (virtio 1.2 §4.1.4), offsets from the
// capability's first byte.
const (
	capLen         = 2  // cap_len
	capCfgType     = 3  // cfg_type
	capBar         = 4  // bar
	capOffset      = 8  // offset
	capLength      = 12 // length
	capExtra       = 16 // notify_off_multiplier or pci_cfg_data
	capSize        = 16 // struct virtio_pci_cap
	capSizeExtra   = 20 // struct virtio_pci_notify_cap / virtio_pci_cfg_cap
	cfgTypeCommon  = 1  // VIRTIO_PCI_CAP_COMMON_CFG
	cfgTypeNotify  = 2  // VIRTIO_PCI_CAP_NOTIFY_CFG
	cfgTypeISR     = 3  // VIRTIO_PCI_CAP_ISR_CFG
	cfgTypeDevice  = 4  // VIRTIO_PCI_CAP_DEVICE_CFG
	cfgTypePCICfg  = 5  // VIRTIO_PCI_CAP_PCI_CFG
	vendorID       = 0x1AF4
	deviceIDBase   = 0x1040 // modern device id = 0x1040 + virtio device id
	revisionModern = 1      // non-transitional devices have revision 1 or higher
	subsystemID    = 0x1100 // as QEMU; at least 0x40 for non-transitional devices
	capIDVendor    = 0x09   // PCI_CAP_ID_VNDR
)

// PCI is the virtio-over-PCI transport (virtio 1.2 §4.1), modern layout
// only: a function with vendor capabilities pointing into BAR 0, MSI-X,
// and optionally INTx. It implements pci.Function and pci.BARObserver.
type PCI struct {
	backend Backend
	opts    PCIOptions
	log     *slog.Logger
	cfg     *pci.Config
	msix    *pci.MSIX
	nq      int

	mu       sync.Mutex // the common configuration registers
	offered  uint64
	common   commonState
	queues   []queueRegs
	active   bool
	configGn uint8

	configVector atomic.Uint32
	queueVectors []atomic.Uint32
	needsReset   atomic.Bool

	intxMu   sync.Mutex
	isr      uint8
	intxHigh bool

	kicks []chan struct{}

	evMu   sync.Mutex
	events []Event
	pumps  sync.WaitGroup
	closed bool
}

// NewPCI builds the PCI function for backend.
func NewPCI(backend Backend, o PCIOptions) (*PCI, error) {
	if o.Memory == nil {
		return nil, errors.New("virtio-pci: no guest memory")
	}
	sizes := backend.QueueSizes()
	if len(sizes) == 0 || len(sizes) > maxQueues {
		return nil, fmt.Errorf("virtio-pci: %d queues, want 1-%d", len(sizes), maxQueues)
	}
	for i, s := range sizes {
		if s == 0 || s > MaxQueueSize || s&(s-1) != 0 {
			return nil, fmt.Errorf("virtio-pci: queue %d: maximum size %d is not a power of two up to %d", i, s, MaxQueueSize)
		}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	class := o.Class
	if class == 0 {
		class = defaultClass(backend.DeviceType())
	}
	p := &PCI{
		backend:      backend,
		opts:         o,
		log:          log.With("device", fmt.Sprintf("virtio-%d", backend.DeviceType())),
		nq:           len(sizes),
		offered:      backend.Features() | transportFeatures,
		queues:       make([]queueRegs, len(sizes)),
		queueVectors: make([]atomic.Uint32, len(sizes)),
		kicks:        make([]chan struct{}, len(sizes)),
	}
	for i, s := range sizes {
		p.queues[i].max = s
		p.kicks[i] = make(chan struct{}, 1)
	}
	p.cfg = pci.NewConfig(pci.Header{
		VendorID:          vendorID,
		DeviceID:          deviceIDBase + backend.DeviceType(),
		Revision:          revisionModern,
		Class:             class,
		SubsystemVendorID: vendorID,
		SubsystemID:       subsystemID,
		InterruptPin:      o.INTx != nil,
	})
	if err := p.cfg.AddBAR(barIndex, pci.BAR{Size: barSize, Is64: true, Device: barDevice{p}}); err != nil {
		return nil, err
	}
	if err := p.addCapabilities(); err != nil {
		return nil, fmt.Errorf("virtio-pci: %w", err)
	}
	p.mu.Lock()
	p.resetLocked()
	p.mu.Unlock()
	return p, nil
}

func defaultClass(deviceType uint16) uint32 {
	switch deviceType {
	case 1:
		return 0x020000 // network controller, ethernet
	case 2:
		return 0x018000 // mass storage controller, other
	default:
		return 0xFF0000 // device does not fit any defined class
	}
}

func (p *PCI) addCapabilities() error {
	caps := []struct {
		cfgType        uint8
		offset, length uint32
		extra          []byte
	}{
		{cfgTypeCommon, commonOffset, commonCfgLen, nil},
		{cfgTypeNotify, notifyOffset, uint32(p.nq) * notifyMultiplier, le32(notifyMultiplier)},
		{cfgTypeISR, isrOffset, isrLength, nil},
		{cfgTypeDevice, deviceOffset, regionSize, nil},
	}
	for _, c := range caps {
		if _, err := p.cfg.AddCapability(capIDVendor, vendorCap(c.cfgType, c.offset, c.length, c.extra), nil, nil); err != nil {
			return err
		}
	}
	// VIRTIO_PCI_CAP_PCI_CFG: bar, offset, length and data are writable.
	body := vendorCap(cfgTypePCICfg, 0, 0, make([]byte, 4))
	mask := make([]byte, len(body))
	mask[capBar-2] = 0xFF
	for i := capOffset; i < capSizeExtra; i++ {
		mask[i-2] = 0xFF
	}
	if _, err := p.cfg.AddCapability(capIDVendor, body, mask, pciCfgCap{p}); err != nil {
		return err
	}
	if p.opts.MSI != nil {
		m, err := pci.NewMSIX(p.cfg, p.nq+1, barIndex, msixTableOffset, msixPBAOffset, p.opts.MSI, p.log)
		if err != nil {
			return err
		}
		p.msix = m
	}
	return nil
}

// vendorCap builds the body (after ID and next) of a struct virtio_pci_cap.
func vendorCap(cfgType uint8, offset, length uint32, extra []byte) []byte {
	b := make([]byte, capSize-2+len(extra))
	b[capLen-2] = byte(capSize + len(extra))
	b[capCfgType-2] = cfgType
	b[capBar-2] = barIndex
	binary.LittleEndian.PutUint32(b[capOffset-2:], offset)
	binary.LittleEndian.PutUint32(b[capLength-2:], length)
	copy(b[capSize-2:], extra)
	return b
}

func le32(v uint32) []byte {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, v)
	return b
}

// PCIConfig implements pci.Function.
func (p *PCI) PCIConfig() *pci.Config { return p.cfg }

// Close stops the device and releases its notify events. The board calls
// it at shutdown.
func (p *PCI) Close() error {
	p.mu.Lock()
	if p.active {
		p.backend.Reset()
		p.active = false
	}
	p.mu.Unlock()
	p.evMu.Lock()
	p.closed = true
	p.closeEventsLocked()
	p.evMu.Unlock()
	p.pumps.Wait()
	return nil
}

// ConfigChanged tells the driver that the device-specific configuration
// changed (a disk was resized, say).
func (p *PCI) ConfigChanged() {
	p.mu.Lock()
	p.configGn++
	p.mu.Unlock()
	p.configInterrupt()
}

// deviceError puts the device in DEVICE_NEEDS_RESET and tells the driver
// (virtio 1.2 §2.1.2). Queues call it when the driver breaks a ring.
func (p *PCI) deviceError(err error) {
	if p.needsReset.CompareAndSwap(false, true) {
		p.log.Warn("virtio device needs reset; the guest driver must reset it", "err", err)
		p.configInterrupt()
	}
}

// interruptQueue sends queue q's used buffer notification: its MSI-X
// vector, or the ISR bit and INTx when MSI-X is off.
func (p *PCI) interruptQueue(q int) {
	if p.msix != nil && p.msix.Enabled() {
		if v := p.queueVectors[q].Load(); v != NoVector {
			if err := p.msix.Trigger(int(v)); err != nil {
				p.log.Debug("virtio queue interrupt", "queue", q, "err", err)
			}
		}
		return
	}
	p.raiseISR(ISRQueue)
}

func (p *PCI) configInterrupt() {
	if p.msix != nil && p.msix.Enabled() {
		if v := p.configVector.Load(); v != NoVector {
			if err := p.msix.Trigger(int(v)); err != nil {
				p.log.Debug("virtio config interrupt", "err", err)
			}
		}
		return
	}
	p.raiseISR(ISRConfig)
}

func (p *PCI) raiseISR(bit uint8) {
	p.intxMu.Lock()
	defer p.intxMu.Unlock()
	p.isr |= bit
	p.setINTxLocked(true)
}

// readISR returns and clears the ISR status, lowering INTx.
func (p *PCI) readISR() uint8 {
	p.intxMu.Lock()
	defer p.intxMu.Unlock()
	v := p.isr
	p.isr = 0
	p.setINTxLocked(false)
	return v
}

func (p *PCI) setINTxLocked(high bool) {
	p.cfg.SetInterruptStatus(high)
	if p.opts.INTx == nil {
		return
	}
	if high && p.cfg.Command()&pci.CommandINTxDisable != 0 {
		high = false
	}
	if high != p.intxHigh {
		p.intxHigh = high
		p.opts.INTx.SetLevel(high)
	}
}

// barDevice serves BAR 0.
type barDevice struct{ p *PCI }

func (b barDevice) Name() string { return "virtio-pci" }

func inRegion(off uint64, n int, base, size uint64) bool {
	return off >= base && off-base+uint64(n) <= size
}

func (b barDevice) Read(off uint64, data []byte) {
	p := b.p
	clear(data)
	switch {
	case inRegion(off, len(data), commonOffset, regionSize):
		p.readCommon(off-commonOffset, data)
	case off == isrOffset && len(data) == 1:
		data[0] = p.readISR()
	case inRegion(off, len(data), deviceOffset, regionSize):
		p.backend.ReadConfig(off-deviceOffset, data)
	case p.msix != nil && inRegion(off, len(data), msixTableOffset, regionSize):
		p.msix.ReadTable(off-msixTableOffset, data)
	case p.msix != nil && inRegion(off, len(data), msixPBAOffset, regionSize):
		p.msix.ReadPBA(off-msixPBAOffset, data)
	}
}

func (b barDevice) Write(off uint64, data []byte) {
	p := b.p
	switch {
	case inRegion(off, len(data), commonOffset, regionSize):
		p.writeCommon(off-commonOffset, data)
	case inRegion(off, len(data), deviceOffset, regionSize):
		p.backend.WriteConfig(off-deviceOffset, data)
	case inRegion(off, len(data), notifyOffset, regionSize):
		// A notification that did not hit an ioeventfd.
		rel := off - notifyOffset
		if q := rel / notifyMultiplier; rel%notifyMultiplier == 0 && q < uint64(p.nq) {
			p.kick(int(q))
		}
	case p.msix != nil && inRegion(off, len(data), msixTableOffset, regionSize):
		p.msix.WriteTable(off-msixTableOffset, data)
	}
}

// pciCfgCap is VIRTIO_PCI_CAP_PCI_CFG: a window into BAR 0 through
// configuration space, for drivers that cannot map the BAR.
type pciCfgCap struct{ p *PCI }

// window decodes the capability: the BAR access it selects, if valid.
func (pciCfgCap) window(cur []byte) (off uint64, n int, ok bool) {
	off = uint64(binary.LittleEndian.Uint32(cur[capOffset:]))
	n = int(binary.LittleEndian.Uint32(cur[capLength:]))
	if cur[capBar] != barIndex || (n != 1 && n != 2 && n != 4) || off%uint64(n) != 0 || off+uint64(n) > barSize {
		return 0, 0, false
	}
	return off, n, true
}

func (h pciCfgCap) ReadCapability(off int, data []byte, cur []byte) {
	if off+len(data) <= capExtra {
		return
	}
	barOff, n, ok := h.window(cur)
	if !ok {
		return
	}
	var buf [4]byte
	barDevice(h).Read(barOff, buf[:n])
	for i := range data {
		if o := off + i - capExtra; o >= 0 && o < 4 {
			data[i] = buf[o]
		}
	}
}

func (h pciCfgCap) WriteCapability(off int, data []byte, cur []byte) {
	if off+len(data) <= capExtra {
		return
	}
	if barOff, n, ok := h.window(cur); ok {
		barDevice(h).Write(barOff, cur[capExtra:capExtra+n])
	}
}
