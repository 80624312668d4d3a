package virtio

import (
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices"
	"github.com/gonest/gonest/devices/pci"
	"github.com/gonest/gonest/devices/virtio/virtiotest"
	"github.com/gonest/gonest/guestmem"
)

const (
	fakeType    = 9
	fakeFeature = 1 << 3
)

// fakeBackend answers every chain by writing 0x5A into its first
// writable byte.
type fakeBackend struct {
	mu          sync.Mutex
	activations []Activation
	resets      int
	config      [8]byte
	activateErr error
	stop        chan struct{}
	wg          sync.WaitGroup
}

func (f *fakeBackend) DeviceType() uint16   { return fakeType }
func (f *fakeBackend) Features() uint64     { return fakeFeature }
func (f *fakeBackend) QueueSizes() []uint16 { return []uint16{16, 8} }
func (f *fakeBackend) ReadConfig(off uint64, data []byte) {
	if off < uint64(len(f.config)) {
		copy(data, f.config[off:])
	}
}
func (f *fakeBackend) WriteConfig(off uint64, data []byte) {
	if off < uint64(len(f.config)) {
		copy(f.config[off:], data)
	}
}

func (f *fakeBackend) Activate(a Activation) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.activateErr != nil {
		return f.activateErr
	}
	f.activations = append(f.activations, a)
	f.stop = make(chan struct{})
	for _, q := range a.Queues {
		if q == nil {
			continue
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			Serve(q, f.stop, func(c *Chain) (uint32, error) {
				if len(c.Writable) == 0 || len(c.Writable[0]) == 0 {
					return 0, errors.New("no writable byte")
				}
				c.Writable[0][0] = 0x5A
				return 1, nil
			})
		}()
	}
	return nil
}

func (f *fakeBackend) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stop != nil {
		close(f.stop)
		f.wg.Wait()
		f.stop = nil
	}
	f.resets++
}

// intxLine records INTx levels.
type intxLine struct {
	mu     sync.Mutex
	levels []bool
}

func (l *intxLine) SetLevel(high bool) {
	l.mu.Lock()
	l.levels = append(l.levels, high)
	l.mu.Unlock()
}

func (l *intxLine) last() (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.levels) == 0 {
		return false, 0
	}
	return l.levels[len(l.levels)-1], len(l.levels)
}

type rig struct {
	t       *testing.T
	mem     *guestmem.Memory
	bus     *pci.Bus
	mmio    *devices.Bus
	dev     *PCI
	be      *fakeBackend
	slot    uint8
	base    uint64
	msis    chan pci.Message
	intx    *intxLine
	caps    map[uint8]int // cfg_type -> offset
	msixCap int
}

type rigOpts struct {
	msi      bool
	intx     bool
	notifier Notifier
}

func newRig(t *testing.T, o rigOpts) *rig {
	t.Helper()
	r := &rig{t: t, mem: guestmem.FromBytes(memBase, make([]byte, memSize)), be: &fakeBackend{},
		msis: make(chan pci.Message, 64), caps: map[uint8]int{}}
	opts := PCIOptions{Memory: r.mem, Notifier: o.notifier}
	if o.msi {
		opts.MSI = &pci.SignalMSI{Send: func(m pci.Message) error { r.msis <- m; return nil }}
	}
	if o.intx {
		r.intx = &intxLine{}
		opts.INTx = r.intx
	}
	dev, err := NewPCI(r.be, opts)
	require.NoError(t, err)
	r.dev = dev
	t.Cleanup(func() { assert.NoError(t, dev.Close()) })
	r.mmio = devices.NewBus("mmio")
	r.bus, err = pci.NewBus(pci.Options{MMIO: r.mmio, Windows: []pci.Window{{Base: 0xC000_0000, Size: 0x1000_0000}}})
	require.NoError(t, err)
	slot, err := r.bus.Add(dev)
	require.NoError(t, err)
	r.slot = uint8(slot)
	r.cfgWrite(pci.RegCommand, 2, pci.CommandMemory|pci.CommandMaster)
	r.base, _ = dev.PCIConfig().BARAddress(barIndex)
	r.findCaps()
	return r
}

func (r *rig) cfgRead(reg uint64, n int) uint32 {
	b := make([]byte, 4)
	r.bus.ReadConfig(0, r.slot, 0, reg, b[:n])
	return binary.LittleEndian.Uint32(b)
}

func (r *rig) cfgWrite(reg uint64, n int, v uint32) {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, v)
	r.bus.WriteConfig(0, r.slot, 0, reg, b[:n])
}

// findCaps walks the capability list as Linux's virtio_pci_find_capability does.
func (r *rig) findCaps() {
	for off := r.cfgRead(pci.RegCapabilityList, 1); off != 0; off = r.cfgRead(uint64(off)+1, 1) {
		switch r.cfgRead(uint64(off), 1) {
		case capIDVendor:
			r.caps[uint8(r.cfgRead(uint64(off)+capCfgType, 1))] = int(off)
		case 0x11:
			r.msixCap = int(off)
		}
	}
}

func (r *rig) read(off uint64, n int) uint64 {
	b := make([]byte, 8)
	require.True(r.t, r.mmio.Read(r.base+off, b[:n]), "mmio read at %#x", off)
	return binary.LittleEndian.Uint64(b)
}

func (r *rig) write(off uint64, n int, v uint64) {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, v)
	require.True(r.t, r.mmio.Write(r.base+off, b[:n]), "mmio write at %#x", off)
}

func (r *rig) status() uint8 { return uint8(r.read(commonOffset+cDeviceStatus, 1)) }

// negotiate runs the driver's feature negotiation and reports FEATURES_OK.
func (r *rig) negotiate(features uint64) bool {
	r.write(cDeviceStatus, 1, 0)
	r.write(cDeviceStatus, 1, StatusAcknowledge)
	r.write(cDeviceStatus, 1, StatusAcknowledge|StatusDriver)
	for sel := uint64(0); sel < 2; sel++ {
		r.write(cDriverFeatureSelect, 4, sel)
		r.write(cDriverFeature, 4, uint64(uint32(features>>(32*sel))))
	}
	r.write(cDeviceStatus, 1, StatusAcknowledge|StatusDriver|StatusFeaturesOK)
	return r.status()&StatusFeaturesOK != 0
}

// setupQueue programs queue q from a virtiotest driver, as Linux's
// vp_modern setup_vq does, with vector as its MSI-X vector.
func (r *rig) setupQueue(q uint16, base uint64, size uint16, vector uint16) *virtiotest.Driver {
	d := virtiotest.New(r.mem, base, size)
	r.write(cQueueSelect, 2, uint64(q))
	r.write(cQueueSize, 2, uint64(size))
	r.write(cQueueDesc, 4, d.Desc)
	r.write(cQueueDesc+4, 4, d.Desc>>32)
	r.write(cQueueDriver, 4, d.Avail)
	r.write(cQueueDriver+4, 4, d.Avail>>32)
	r.write(cQueueDevice, 8, d.Used) // one 8-byte access works too
	r.write(cQueueMSIXVector, 2, uint64(vector))
	r.write(cQueueEnable, 2, 1)
	return d
}

func (r *rig) driverOK() {
	r.write(cDeviceStatus, 1, StatusAcknowledge|StatusDriver|StatusFeaturesOK|StatusDriverOK)
}

// enableMSIX turns MSI-X on and programs vector v to send data.
func (r *rig) enableMSIX(v int, data uint32) {
	entry := msixTableOffset + uint64(v)*pci.MSIXEntrySize
	r.write(entry, 4, 0xFEE0_0000)
	r.write(entry+4, 4, 0)
	r.write(entry+8, 4, uint64(data))
	r.write(entry+12, 4, 0) // unmask
	r.cfgWrite(uint64(r.msixCap)+2, 2, pci.MSIXControlEnable)
}

func (r *rig) waitMSI() pci.Message {
	select {
	case m := <-r.msis:
		return m
	case <-time.After(5 * time.Second):
		r.t.Fatal("no msi-x interrupt within 5s")
		return pci.Message{}
	}
}

func TestPCIIdentity(t *testing.T) {
	r := newRig(t, rigOpts{msi: true, intx: true})
	assert.Equal(t, uint32(vendorID), r.cfgRead(pci.RegVendorID, 2))
	assert.Equal(t, uint32(deviceIDBase+fakeType), r.cfgRead(pci.RegDeviceID, 2))
	assert.Equal(t, uint32(revisionModern), r.cfgRead(pci.RegRevision, 1))
	assert.Equal(t, uint32(subsystemID), r.cfgRead(pci.RegSubsystemID, 2))
	assert.Equal(t, uint32(1), r.cfgRead(pci.RegInterruptPin, 1), "INTA#")
	assert.Equal(t, uint32(pci.BARMem64), r.cfgRead(pci.RegBAR0, 4)&0xF)

	tests := []struct {
		cfgType        uint8
		offset, length uint32
	}{
		{cfgTypeCommon, commonOffset, commonCfgLen},
		{cfgTypeNotify, notifyOffset, 2 * notifyMultiplier},
		{cfgTypeISR, isrOffset, isrLength},
		{cfgTypeDevice, deviceOffset, regionSize},
		{cfgTypePCICfg, 0, 0},
	}
	for _, tt := range tests {
		off, ok := r.caps[tt.cfgType]
		require.True(t, ok, "cfg_type %d present", tt.cfgType)
		assert.Equal(t, uint32(barIndex), r.cfgRead(uint64(off+capBar), 1))
		assert.Equal(t, tt.offset, r.cfgRead(uint64(off+capOffset), 4), "cfg_type %d offset", tt.cfgType)
		assert.Equal(t, tt.length, r.cfgRead(uint64(off+capLength), 4), "cfg_type %d length", tt.cfgType)
	}
	assert.Equal(t, uint32(notifyMultiplier), r.cfgRead(uint64(r.caps[cfgTypeNotify]+capExtra), 4))
	assert.Equal(t, uint32(capSizeExtra), r.cfgRead(uint64(r.caps[cfgTypeNotify]+capLen), 1))
	require.NotZero(t, r.msixCap)
	assert.Equal(t, uint32(2), r.cfgRead(uint64(r.msixCap)+2, 2)&pci.MSIXControlTableSize, "3 vectors: 2 queues + config")
}

func TestFeatureNegotiation(t *testing.T) {
	offered := uint64(fakeFeature | transportFeatures)
	tests := []struct {
		name     string
		features uint64
		want     bool
	}{
		{"everything offered", offered, true},
		{"just VERSION_1", FeatureVersion1, true},
		{"without VERSION_1", offered &^ FeatureVersion1, false},
		{"a bit not offered", offered | 1<<7, false},
		{"packed ring not offered", offered | FeatureRingPacked, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, rigOpts{})
			assert.Equal(t, tt.want, r.negotiate(tt.features))
		})
	}
	t.Run("feature bits above 63", func(t *testing.T) {
		r := newRig(t, rigOpts{})
		r.write(cDriverFeatureSelect, 4, 2)
		r.write(cDriverFeature, 4, 1)
		r.write(cDriverFeatureSelect, 4, 1)
		r.write(cDriverFeature, 4, FeatureVersion1>>32)
		r.write(cDeviceStatus, 1, StatusAcknowledge|StatusDriver|StatusFeaturesOK)
		assert.Zero(t, r.status()&StatusFeaturesOK)
	})
	t.Run("device features by select", func(t *testing.T) {
		r := newRig(t, rigOpts{})
		for sel, want := range []uint64{offered & 0xFFFFFFFF, offered >> 32, 0} {
			r.write(cDeviceFeatureSelect, 4, uint64(sel))
			assert.Equal(t, want, r.read(cDeviceFeature, 4), "select %d", sel)
		}
	})
	t.Run("features frozen after FEATURES_OK", func(t *testing.T) {
		r := newRig(t, rigOpts{})
		require.True(t, r.negotiate(FeatureVersion1))
		r.write(cDriverFeatureSelect, 4, 0)
		r.write(cDriverFeature, 4, fakeFeature)
		assert.Equal(t, uint64(0), r.read(cDriverFeature, 4))
	})
}

func TestCommonConfigRegisters(t *testing.T) {
	r := newRig(t, rigOpts{msi: true})
	assert.Equal(t, uint64(2), r.read(cNumQueues, 2))
	assert.Equal(t, uint64(NoVector), r.read(cConfigMSIXVector, 2))
	r.write(cConfigMSIXVector, 2, 2)
	assert.Equal(t, uint64(2), r.read(cConfigMSIXVector, 2))
	r.write(cConfigMSIXVector, 2, 3)
	assert.Equal(t, uint64(NoVector), r.read(cConfigMSIXVector, 2), "vector 3 is outside the 3-entry table")

	tests := []struct {
		sel              uint16
		size, notifyOff  uint64
		writeSize        uint64
		wantSizeReadback uint64
	}{
		{0, 16, 0, 8, 8},
		{1, 8, 1, 4, 4},
		{2, 0, 0, 8, 0}, // no such queue: size 0, writes dropped
	}
	for _, tt := range tests {
		r.write(cQueueSelect, 2, uint64(tt.sel))
		assert.Equal(t, tt.size, r.read(cQueueSize, 2), "queue %d max size", tt.sel)
		assert.Equal(t, tt.notifyOff, r.read(cQueueNotifyOff, 2), "queue %d notify off", tt.sel)
		assert.Equal(t, uint64(0), r.read(cQueueEnable, 2))
		r.write(cQueueSize, 2, tt.writeSize)
		assert.Equal(t, tt.wantSizeReadback, r.read(cQueueSize, 2))
	}

	r.write(cQueueSelect, 2, 0)
	r.write(cQueueDesc, 4, 0x1234_5000)
	r.write(cQueueDesc+4, 4, 0x9)
	assert.Equal(t, uint64(0x9_1234_5000), r.read(cQueueDesc, 8))
	assert.Equal(t, uint64(0x9), r.read(cQueueDesc+4, 4))
	r.write(cQueueDriver, 8, 0xAB_0000_0010)
	assert.Equal(t, uint64(0x10), r.read(cQueueDriver, 4))
	assert.Equal(t, uint64(0xAB), r.read(cQueueDriver+4, 4))
	r.write(cQueueMSIXVector, 2, 1)
	assert.Equal(t, uint64(1), r.read(cQueueMSIXVector, 2))

	// Misfit accesses are ignored and read zero.
	r.write(cQueueSelect, 4, 1)
	assert.Equal(t, uint64(0), r.read(cQueueSelect, 2), "a 4-byte write to a 16-bit field is dropped")
	assert.Equal(t, uint64(0), r.read(cDeviceStatus, 2))
}

func TestResetClearsEverything(t *testing.T) {
	r := newRig(t, rigOpts{msi: true})
	require.True(t, r.negotiate(FeatureVersion1))
	r.setupQueue(0, memBase, 8, 0)
	r.write(cConfigMSIXVector, 2, 2)
	r.driverOK()
	require.Len(t, r.be.activations, 1)

	r.write(cDeviceStatus, 1, 0)
	assert.Equal(t, uint8(0), r.status(), "reset completes at once")
	assert.Equal(t, 1, r.be.resets)
	assert.Equal(t, uint64(NoVector), r.read(cConfigMSIXVector, 2))
	r.write(cQueueSelect, 2, 0)
	assert.Equal(t, uint64(0), r.read(cQueueEnable, 2))
	assert.Equal(t, uint64(16), r.read(cQueueSize, 2), "back to the maximum")
	assert.Equal(t, uint64(NoVector), r.read(cQueueMSIXVector, 2))
	assert.Equal(t, uint64(0), r.read(cQueueDesc, 8))
	r.write(cDriverFeatureSelect, 4, 1)
	assert.Equal(t, uint64(0), r.read(cDriverFeature, 4))
}

func TestDriverOKWithoutFeaturesOK(t *testing.T) {
	r := newRig(t, rigOpts{intx: true})
	r.write(cDeviceStatus, 1, StatusAcknowledge|StatusDriver|StatusDriverOK)
	assert.NotZero(t, r.status()&StatusNeedsReset)
	assert.Empty(t, r.be.activations)
	assert.Equal(t, uint64(ISRConfig), r.read(isrOffset, 1), "configuration change notification")
}

func TestBadQueueAtDriverOK(t *testing.T) {
	r := newRig(t, rigOpts{})
	require.True(t, r.negotiate(FeatureVersion1))
	r.setupQueue(0, memBase, 8, NoVector)
	r.write(cQueueSize, 2, 32) // larger than the maximum 16
	r.driverOK()
	assert.NotZero(t, r.status()&StatusNeedsReset)
	assert.Empty(t, r.be.activations)

	r.write(cDeviceStatus, 1, 0)
	assert.Zero(t, r.status(), "reset clears DEVICE_NEEDS_RESET")
}

func TestActivateError(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.be.activateErr = errors.New("no disk")
	require.True(t, r.negotiate(FeatureVersion1))
	r.setupQueue(0, memBase, 8, NoVector)
	r.driverOK()
	assert.NotZero(t, r.status()&StatusNeedsReset)
}

func TestRequestWithMSIX(t *testing.T) {
	r := newRig(t, rigOpts{msi: true})
	require.True(t, r.negotiate(FeatureVersion1|FeatureRingEventIdx))
	r.enableMSIX(0, 0x41)
	d := r.setupQueue(0, memBase, 8, 0)
	r.driverOK()
	require.Len(t, r.be.activations, 1)
	a := r.be.activations[0]
	assert.NotNil(t, a.Queues[0])
	assert.Nil(t, a.Queues[1], "queue 1 was not enabled")
	assert.Equal(t, uint64(FeatureVersion1|FeatureRingEventIdx), a.Features)

	buf := d.Alloc(1)
	head := d.AddChain(virtiotest.Buf{Addr: buf, Len: 1, Write: true})
	r.write(notifyOffset, 2, 0) // no ioeventfd: the MMIO write kicks
	assert.Equal(t, pci.Message{Addr: 0xFEE0_0000, Data: 0x41}, r.waitMSI())
	assert.Equal(t, []virtiotest.Used{{ID: uint32(head), Len: 1}}, d.TakeUsed())
	assert.Equal(t, byte(0x5A), d.Bytes(buf, 1)[0])
}

func TestRequestWithINTx(t *testing.T) {
	r := newRig(t, rigOpts{intx: true})
	require.True(t, r.negotiate(FeatureVersion1))
	d := r.setupQueue(1, memBase, 8, NoVector)
	r.driverOK()
	d.AddChain(virtiotest.Buf{Addr: d.Alloc(1), Len: 1, Write: true})
	r.write(notifyOffset+notifyMultiplier, 2, 1)
	require.Eventually(t, func() bool { high, _ := r.intx.last(); return high }, 5*time.Second, time.Millisecond)
	assert.Equal(t, uint32(pci.StatusInterrupt), r.cfgRead(pci.RegStatus, 2)&pci.StatusInterrupt)
	assert.Equal(t, uint64(ISRQueue), r.read(isrOffset, 1), "read returns and clears the ISR")
	high, _ := r.intx.last()
	assert.False(t, high, "the read lowered INTx")
	assert.Equal(t, uint64(0), r.read(isrOffset, 1))
	assert.Zero(t, r.cfgRead(pci.RegStatus, 2)&pci.StatusInterrupt)
	assert.Len(t, d.TakeUsed(), 1)

	// INTx disable in COMMAND keeps the line low.
	r.cfgWrite(pci.RegCommand, 2, pci.CommandMemory|pci.CommandMaster|pci.CommandINTxDisable)
	_, n := r.intx.last()
	d.AddChain(virtiotest.Buf{Addr: d.Alloc(1), Len: 1, Write: true})
	r.write(notifyOffset+notifyMultiplier, 2, 1)
	require.Eventually(t, func() bool { return len(d.TakeUsed()) == 1 }, 5*time.Second, time.Millisecond)
	_, n2 := r.intx.last()
	assert.Equal(t, n, n2, "no level change while INTx is disabled")
}

func TestBrokenRingNeedsReset(t *testing.T) {
	r := newRig(t, rigOpts{intx: true})
	require.True(t, r.negotiate(FeatureVersion1))
	d := r.setupQueue(0, memBase, 8, NoVector)
	r.driverOK()
	d.Publish(200) // head beyond the queue
	r.write(notifyOffset, 2, 0)
	require.Eventually(t, func() bool { return r.status()&StatusNeedsReset != 0 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, uint64(ISRConfig), r.read(isrOffset, 1))
	assert.Empty(t, d.TakeUsed())
}

func TestPCICfgCapability(t *testing.T) {
	r := newRig(t, rigOpts{})
	off := uint64(r.caps[cfgTypePCICfg])
	r.cfgWrite(off+capBar, 1, barIndex)
	r.cfgWrite(off+capLength, 4, 2)
	r.cfgWrite(off+capOffset, 4, commonOffset+cNumQueues)
	assert.Equal(t, uint32(2), r.cfgRead(off+capExtra, 2), "num_queues through the window")

	r.cfgWrite(off+capLength, 4, 1)
	r.cfgWrite(off+capOffset, 4, commonOffset+cDeviceStatus)
	r.cfgWrite(off+capExtra, 1, StatusAcknowledge)
	assert.Equal(t, uint8(StatusAcknowledge), r.status(), "a write through the window")

	r.cfgWrite(off+capOffset, 4, barSize) // outside the BAR: ignored
	r.cfgWrite(off+capExtra, 1, 0)
	assert.Equal(t, uint8(StatusAcknowledge), r.status())
}

func TestDeviceConfigPassThrough(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.write(deviceOffset+2, 2, 0xBEEF)
	assert.Equal(t, uint64(0xBEEF), r.read(deviceOffset+2, 2))
	assert.Equal(t, byte(0xEF), r.be.config[2])
}
