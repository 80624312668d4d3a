package virtio

import (
	"fmt"
)

// struct virtio_pci_common_cfg (virtio 1.2 §4.1.4.3).
const (
	cDeviceFeatureSelect = 0x00 // le32, read-write
	cDeviceFeature       = 0x04 // le32, read-only
	cDriverFeatureSelect = 0x08 // le32, read-write
	cDriverFeature       = 0x0C // le32, read-write
	cConfigMSIXVector    = 0x10 // le16, read-write
	cNumQueues           = 0x12 // le16, read-only
	cDeviceStatus        = 0x14 // u8, read-write
	cConfigGeneration    = 0x15 // u8, read-only
	cQueueSelect         = 0x16 // le16, read-write
	cQueueSize           = 0x18 // le16, read-write
	cQueueMSIXVector     = 0x1A // le16, read-write
	cQueueEnable         = 0x1C // le16, read-write
	cQueueNotifyOff      = 0x1E // le16, read-only
	cQueueDesc           = 0x20 // le64, read-write
	cQueueDriver         = 0x28 // le64, read-write
	cQueueDevice         = 0x30 // le64, read-write
	cQueueNotifyData     = 0x38 // le16, read-only
	cQueueReset          = 0x3A // le16, read-write (only with VIRTIO_F_RING_RESET, not offered)
	commonCfgLen         = 0x3C
)

// commonState holds the registers that are not per queue.
type commonState struct {
	deviceFeatureSel uint32
	driverFeatureSel uint32
	driverFeatures   uint64
	// unknownFeatures is set when the driver wrote feature bits above 63,
	// none of which exist.
	unknownFeatures bool
	status          uint8
	queueSel        uint16
}

type queueRegs struct {
	max, size            uint16
	enabled              bool
	desc, driver, device uint64
}

// fieldWidth returns the width of the common configuration field at off,
// or 0 when off is not the start of one.
func fieldWidth(off uint64) int {
	switch off {
	case cDeviceFeatureSelect, cDeviceFeature, cDriverFeatureSelect, cDriverFeature:
		return 4
	case cConfigMSIXVector, cNumQueues, cQueueSelect, cQueueSize, cQueueMSIXVector,
		cQueueEnable, cQueueNotifyOff, cQueueNotifyData, cQueueReset:
		return 2
	case cDeviceStatus, cConfigGeneration:
		return 1
	case cQueueDesc, cQueueDriver, cQueueDevice:
		return 8
	}
	return 0
}

// access finds the field an access of n bytes at off hits. 64-bit fields
// may be accessed whole or as 32-bit halves (virtio 1.2 §4.1.3.1); any
// other access must match a field exactly, and is ignored otherwise.
func access(off uint64, n int) (field uint64, shift uint, ok bool) {
	if w := fieldWidth(off); w == n {
		return off, 0, true
	}
	if n == 4 && off >= cQueueDesc && off < cQueueNotifyData && off%4 == 0 {
		return off &^ 7, uint(off%8) * 8, true
	}
	return 0, 0, false
}

func (p *PCI) selected() *queueRegs {
	if int(p.common.queueSel) < p.nq {
		return &p.queues[p.common.queueSel]
	}
	return nil
}

func (p *PCI) readCommon(off uint64, data []byte) {
	field, shift, ok := access(off, len(data))
	if !ok {
		return
	}
	p.mu.Lock()
	v := p.commonValue(field)
	p.mu.Unlock()
	v >>= shift
	for i := range data {
		data[i] = byte(v >> (8 * i))
	}
}

// commonValue returns the current value of a field. p.mu must be held.
func (p *PCI) commonValue(field uint64) uint64 {
	c := &p.common
	q := p.selected()
	switch field {
	case cDeviceFeatureSelect:
		return uint64(c.deviceFeatureSel)
	case cDeviceFeature:
		if c.deviceFeatureSel < 2 {
			return uint64(uint32(p.offered >> (32 * c.deviceFeatureSel)))
		}
	case cDriverFeatureSelect:
		return uint64(c.driverFeatureSel)
	case cDriverFeature:
		if c.driverFeatureSel < 2 {
			return uint64(uint32(c.driverFeatures >> (32 * c.driverFeatureSel)))
		}
	case cConfigMSIXVector:
		return uint64(p.configVector.Load())
	case cNumQueues:
		return uint64(p.nq)
	case cDeviceStatus:
		s := c.status
		if p.needsReset.Load() {
			s |= StatusNeedsReset
		}
		return uint64(s)
	case cConfigGeneration:
		return uint64(p.configGn)
	case cQueueSelect:
		return uint64(c.queueSel)
	}
	if q == nil {
		return 0 // queue_size 0: the queue does not exist
	}
	switch field {
	case cQueueSize:
		return uint64(q.size)
	case cQueueMSIXVector:
		return uint64(p.queueVectors[c.queueSel].Load())
	case cQueueEnable:
		if q.enabled {
			return 1
		}
	case cQueueNotifyOff, cQueueNotifyData:
		return uint64(c.queueSel)
	case cQueueDesc:
		return q.desc
	case cQueueDriver:
		return q.driver
	case cQueueDevice:
		return q.device
	}
	return 0
}

func (p *PCI) writeCommon(off uint64, data []byte) {
	field, shift, ok := access(off, len(data))
	if !ok {
		return
	}
	var v uint64
	for i, b := range data {
		v |= uint64(b) << (8 * i)
	}
	mask := ^uint64(0)
	if len(data) < 8 {
		mask = uint64(1)<<(8*len(data)) - 1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c := &p.common
	switch field {
	case cDeviceFeatureSelect:
		c.deviceFeatureSel = uint32(v)
	case cDriverFeatureSelect:
		c.driverFeatureSel = uint32(v)
	case cDriverFeature:
		if c.status&StatusFeaturesOK != 0 {
			return // features are frozen once FEATURES_OK is set
		}
		switch sel := c.driverFeatureSel; {
		case sel < 2:
			mask := uint64(0xFFFFFFFF) << (32 * sel)
			c.driverFeatures = c.driverFeatures&^mask | v<<(32*sel)
		case v != 0:
			c.unknownFeatures = true
		}
	case cConfigMSIXVector:
		p.configVector.Store(p.vector(uint16(v)))
	case cDeviceStatus:
		p.setStatus(uint8(v))
	case cQueueSelect:
		c.queueSel = uint16(v)
	default:
		p.writeQueue(field, v<<shift, mask<<shift)
	}
}

// vector validates an MSI-X vector number: a mapping to a vector outside
// the table fails, which the driver sees as NO_VECTOR on read-back.
func (p *PCI) vector(v uint16) uint32 {
	if p.msix == nil || int(v) >= p.msix.Vectors() {
		return NoVector
	}
	return uint32(v)
}

// writeQueue handles the per-queue fields. p.mu must be held.
// v and mask are already shifted to the accessed part of the field.
func (p *PCI) writeQueue(field, v, mask uint64) {
	q := p.selected()
	if q == nil {
		return
	}
	if p.active && field != cQueueMSIXVector {
		// The queue's layout is fixed once the device is live.
		p.log.Debug("virtio queue register written after DRIVER_OK", "queue", p.common.queueSel, "field", field)
		return
	}
	set64 := func(r *uint64) { *r = *r&^mask | v&mask }
	switch field {
	case cQueueSize:
		q.size = uint16(v) // checked at DRIVER_OK
	case cQueueMSIXVector:
		p.queueVectors[p.common.queueSel].Store(p.vector(uint16(v)))
	case cQueueEnable:
		if v == 1 {
			q.enabled = true
		}
	case cQueueDesc:
		set64(&q.desc)
	case cQueueDriver:
		set64(&q.driver)
	case cQueueDevice:
		set64(&q.device)
	}
}

// setStatus handles a device_status write. p.mu must be held.
func (p *PCI) setStatus(v uint8) {
	c := &p.common
	if v == 0 {
		p.resetLocked()
		return
	}
	if v&StatusFeaturesOK != 0 && c.status&StatusFeaturesOK == 0 && !p.featuresAcceptable() {
		// The driver reads FEATURES_OK back to learn that we refused.
		v &^= StatusFeaturesOK
	}
	if v&StatusDriverOK != 0 && c.status&StatusDriverOK == 0 {
		c.status = v
		p.activateLocked()
		return
	}
	c.status = v
}

// featuresAcceptable applies virtio 1.2 §3.1.1: only offered bits, and
// VERSION_1 (this is a modern-only device).
func (p *PCI) featuresAcceptable() bool {
	f := p.common.driverFeatures
	return !p.common.unknownFeatures && f&^p.offered == 0 && f&FeatureVersion1 != 0
}

// activateLocked starts the backend on the enabled queues.
func (p *PCI) activateLocked() {
	if p.common.status&StatusFeaturesOK == 0 {
		p.deviceError(fmt.Errorf("driver set DRIVER_OK without FEATURES_OK"))
		return
	}
	queues := make([]*Queue, p.nq)
	for i, r := range p.queues {
		if !r.enabled {
			continue
		}
		q, err := NewQueue(p.opts.Memory, QueueConfig{
			Index:      i,
			Size:       r.size,
			DescAddr:   r.desc,
			DriverAddr: r.driver,
			DeviceAddr: r.device,
			Features:   p.common.driverFeatures,
			Kick:       p.kicks[i],
			Interrupt:  func() { p.interruptQueue(i) },
			Fail:       p.deviceError,
		})
		if err == nil && r.size > r.max {
			err = fmt.Errorf("virtqueue %d: size %d exceeds the maximum %d", i, r.size, r.max)
		}
		if err != nil {
			p.deviceError(err)
			return
		}
		queues[i] = q
	}
	err := p.backend.Activate(Activation{Memory: p.opts.Memory, Features: p.common.driverFeatures, Queues: queues})
	if err != nil {
		p.deviceError(fmt.Errorf("activate: %w", err))
		return
	}
	p.active = true
	p.log.Debug("virtio device live (DRIVER_OK)", "type", p.backend.DeviceType(),
		"features", fmt.Sprintf("%#x", p.common.driverFeatures), "queues", len(queues))
}

// resetLocked returns the device to its initial state (virtio 1.2 §2.4):
// the backend stops, features, status and queue setup are cleared, and all
// events are unmapped from MSI-X vectors. p.mu must be held.
func (p *PCI) resetLocked() {
	if p.active {
		p.backend.Reset()
		p.active = false
		p.log.Debug("virtio device reset", "type", p.backend.DeviceType())
	}
	p.common = commonState{}
	for i := range p.queues {
		p.queues[i] = queueRegs{max: p.queues[i].max, size: p.queues[i].max}
		p.queueVectors[i].Store(NoVector)
		select {
		case <-p.kicks[i]:
		default:
		}
	}
	p.configVector.Store(NoVector)
	p.needsReset.Store(false)
	p.readISR()
}
