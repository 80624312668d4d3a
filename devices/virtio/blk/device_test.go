package blk

import (
	"encoding/binary"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices"
	"github.com/gonest/gonest/devices/disk"
	"github.com/gonest/gonest/devices/pci"
	"github.com/gonest/gonest/devices/virtio"
	"github.com/gonest/gonest/devices/virtio/virtiotest"
	"github.com/gonest/gonest/guestmem"
)

func TestFeaturesAndConfig(t *testing.T) {
	tests := []struct {
		name     string
		ro       bool
		size     int
		want     uint64
		wantNot  uint64
		capacity uint64
	}{
		{"read-write", false, diskBytes, FeatureSegMax | FeatureBlkSize | FeatureFlush | FeatureWriteZeroes, FeatureRO, 64},
		{"read-only", true, diskBytes, FeatureSegMax | FeatureBlkSize | FeatureFlush | FeatureRO, FeatureDiscard | FeatureWriteZeroes, 64},
		{"partial last sector", false, diskBytes + 100, FeatureFlush, 0, 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Open(disk.Spec{Path: newImage(t, tt.size), ReadOnly: tt.ro}, nil)
			require.NoError(t, err)
			defer d.Close()
			assert.Equal(t, tt.want, d.Features()&tt.want)
			assert.Zero(t, d.Features()&tt.wantNot)
			assert.Equal(t, tt.capacity, d.Capacity())
			assert.Equal(t, uint16(DeviceType), d.DeviceType())
			assert.Equal(t, []uint16{queueSize}, d.QueueSizes())

			cfg := make([]byte, configSize+8)
			d.ReadConfig(0, cfg)
			assert.Equal(t, tt.capacity, binary.LittleEndian.Uint64(cfg[cfgCapacity:]))
			assert.Equal(t, uint32(segMax), binary.LittleEndian.Uint32(cfg[cfgSegMax:]))
			assert.Equal(t, uint32(SectorSize), binary.LittleEndian.Uint32(cfg[cfgBlkSize:]))
			assert.Equal(t, make([]byte, 8), cfg[configSize:], "past the structure reads zero")
			if !tt.ro {
				assert.Equal(t, uint32(maxWriteZeroesSectors), binary.LittleEndian.Uint32(cfg[cfgMaxWriteZeroesSectors:]))
				assert.Equal(t, uint32(maxWriteZeroesSeg), binary.LittleEndian.Uint32(cfg[cfgMaxWriteZeroesSeg:]))
			}
			if d.Features()&FeatureDiscard != 0 {
				assert.Equal(t, uint32(maxDiscardSeg), binary.LittleEndian.Uint32(cfg[cfgMaxDiscardSeg:]))
				assert.Equal(t, byte(1), cfg[cfgWriteZeroesMayUnmap])
			}
			d.WriteConfig(cfgCapacity, []byte{1, 2, 3, 4})
			d.ReadConfig(cfgCapacity, cfg[:8])
			assert.Equal(t, tt.capacity, binary.LittleEndian.Uint64(cfg), "configuration space is read-only")
		})
	}
}

func TestCloseIsIdempotentAndFinal(t *testing.T) {
	d, err := Open(disk.Spec{Path: newImage(t, diskBytes)}, nil)
	require.NoError(t, err)
	require.NoError(t, d.Close())
	require.NoError(t, d.Close())
	assert.Error(t, d.Activate(virtio.Activation{}), "a closed disk cannot start")
	d.Reset() // harmless after Close
}

// pciRig is a guest driver talking to the block device through the whole
// PCI transport, with MSI-X.
type pciRig struct {
	t    *testing.T
	mem  *guestmem.Memory
	mmio *devices.Bus
	base uint64
	drv  *virtiotest.Driver
	msis chan pci.Message
	dev  *Device
	tr   *virtio.PCI
}

func newPCIRig(t *testing.T, spec disk.Spec) *pciRig {
	t.Helper()
	r := &pciRig{t: t, mem: guestmem.FromBytes(memBase, make([]byte, memSize)), msis: make(chan pci.Message, 256)}
	d, err := Open(spec, nil)
	require.NoError(t, err)
	r.dev = d
	r.tr, err = virtio.NewPCI(d, virtio.PCIOptions{Memory: r.mem,
		MSI: &pci.SignalMSI{Send: func(m pci.Message) error { r.msis <- m; return nil }}})
	require.NoError(t, err)
	r.mmio = devices.NewBus("mmio")
	bus, err := pci.NewBus(pci.Options{MMIO: r.mmio, Windows: []pci.Window{{Base: 0xC000_0000, Size: 0x1000_0000}}})
	require.NoError(t, err)
	slot, err := bus.Add(r.tr)
	require.NoError(t, err)
	bus.WriteConfig(0, uint8(slot), 0, pci.RegCommand, []byte{pci.CommandMemory | pci.CommandMaster, 0})
	r.base, _ = r.tr.PCIConfig().BARAddress(0)
	// MSI-X capability: first capability with ID 0x11.
	for off := byte(0x40); off != 0; {
		b := make([]byte, 2)
		bus.ReadConfig(0, uint8(slot), 0, uint64(off), b)
		if b[0] == 0x11 {
			bus.WriteConfig(0, uint8(slot), 0, uint64(off)+2, []byte{0, 0x80})
			break
		}
		off = b[1]
	}
	// Vector 0: unmasked, data 0x30. The BAR layout puts the table at 0x4000.
	r.w(0x4000, 4, 0xFEE0_0000)
	r.w(0x4008, 4, 0x30)
	r.w(0x400C, 4, 0)
	// Linux's sequence: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK.
	r.w(0x14, 1, 0)
	r.w(0x14, 1, virtio.StatusAcknowledge|virtio.StatusDriver)
	r.w(0x08, 4, 0)
	r.w(0x0C, 4, r.r(0x04, 4)) // take every feature in the low word
	r.w(0x08, 4, 1)
	r.w(0x0C, 4, virtio.FeatureVersion1>>32)
	r.w(0x14, 1, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK)
	require.NotZero(t, r.r(0x14, 1)&virtio.StatusFeaturesOK)
	r.drv = virtiotest.New(r.mem, memBase, qSize)
	r.w(0x16, 2, 0)
	r.w(0x18, 2, qSize)
	r.w(0x20, 8, r.drv.Desc)
	r.w(0x28, 8, r.drv.Avail)
	r.w(0x30, 8, r.drv.Used)
	r.w(0x1A, 2, 0)
	r.w(0x1C, 2, 1)
	r.w(0x14, 1, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK|virtio.StatusDriverOK)
	require.Zero(t, r.r(0x14, 1)&virtio.StatusNeedsReset)
	return r
}

func (r *pciRig) w(off uint64, n int, v uint64) {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, v)
	require.True(r.t, r.mmio.Write(r.base+off, b[:n]))
}

func (r *pciRig) r(off uint64, n int) uint64 {
	b := make([]byte, 8)
	require.True(r.t, r.mmio.Read(r.base+off, b[:n]))
	return binary.LittleEndian.Uint64(b)
}

func (r *pciRig) kick() { r.w(0x3000, 2, 0) }

func TestThroughPCITransport(t *testing.T) {
	r := newPCIRig(t, disk.Spec{Path: newImage(t, diskBytes), Serial: "pci-test"})
	defer r.dev.Close()
	defer r.tr.Close()

	data := r.drv.Alloc(SectorSize)
	st := r.drv.Put([]byte{0xEE})
	r.drv.AddChain(virtiotest.Buf{Addr: r.drv.Put(header(TypeIn, 7)), Len: headerSize},
		virtiotest.Buf{Addr: data, Len: SectorSize, Write: true}, virtiotest.Buf{Addr: st, Len: 1, Write: true})
	r.kick()
	select {
	case m := <-r.msis:
		assert.Equal(t, uint32(0x30), m.Data)
	case <-time.After(5 * time.Second):
		t.Fatal("no interrupt")
	}
	require.Len(t, r.drv.TakeUsed(), 1)
	assert.Equal(t, byte(StatusOK), r.drv.Bytes(st, 1)[0])
	assert.Equal(t, sectorOf(8), r.drv.Bytes(data, SectorSize))
	assert.Equal(t, uint64(64), r.r(0x2000, 8), "capacity in the device configuration")
}

// TestCloseWithRequestsInFlight submits writes and closes the device
// while the worker runs: every completed write is in the image, and every
// sector holds either its old or its new contents.
func TestCloseWithRequestsInFlight(t *testing.T) {
	img := newImage(t, diskBytes)
	r := newPCIRig(t, disk.Spec{Path: img})
	var heads []uint16
	for i := 0; i < qSize/4; i++ {
		heads = append(heads, r.drv.AddChain(
			virtiotest.Buf{Addr: r.drv.Put(header(TypeOut, uint64(i))), Len: headerSize},
			virtiotest.Buf{Addr: r.drv.Put(sectorOf(0xC0 + byte(i))), Len: SectorSize},
			virtiotest.Buf{Addr: r.drv.Put([]byte{0xEE}), Len: 1, Write: true}))
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.kick() }()
	wg.Wait()
	require.NoError(t, r.tr.Close())
	require.NoError(t, r.dev.Close())

	done := map[uint32]bool{}
	for _, u := range r.drv.TakeUsed() {
		done[u.ID] = true
	}
	f, err := os.ReadFile(img)
	require.NoError(t, err)
	for i, h := range heads {
		got := f[i*SectorSize : (i+1)*SectorSize]
		if done[uint32(h)] {
			assert.Equal(t, sectorOf(0xC0+byte(i)), got, "completed write %d is in the image", i)
		} else {
			assert.True(t, assert.ObjectsAreEqual(sectorOf(byte(i+1)), got) || assert.ObjectsAreEqual(sectorOf(0xC0+byte(i)), got),
				"sector %d is old or new, never torn", i)
		}
	}
}
