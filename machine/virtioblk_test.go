package machine

import (
	"bytes"
	"log/slog"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/devices/virtio"
	"github.com/gonest/gonest/devices/virtio/blk"
	"github.com/gonest/gonest/internal/syncbuf"
	"github.com/gonest/gonest/internal/tinyelf"
)

// A tiny guest is its own virtio-blk driver here: it finds the device's
// BAR through PCI configuration space, negotiates VERSION_1 through the
// common configuration registers, sets up a split virtqueue in its RAM,
// and sends requests whose status bytes it prints on the console. This
// runs the whole path Linux uses in the lab (config space, BAR decode,
// MMIO, the queue notify ioeventfd, the request worker, the used ring) on
// any /dev/kvm, and it can send what Linux never sends: a write to a disk
// that advertises VIRTIO_BLK_F_RO, which the device must fail with
// VIRTIO_BLK_S_IOERR (virtio 1.2, 5.2.6.1) while the file stays untouched.

// Guest-physical layout of the tiny driver's queue and buffers.
const (
	tdQueueSize = 8
	tdDesc      = 0x200000 // descriptor table, 16 bytes per entry
	tdAvail     = 0x201000 // flags, idx, ring[8], used_event
	tdUsed      = 0x202000 // flags, idx, ring[8] of {id, len}, avail_event
	tdHeader    = 0x203000 // struct virtio_blk_outhdr: type, reserved, sector
	tdData      = 0x204000 // one sector
	tdStatus    = 0x205000 // the status byte
	tdIDLen     = 20       // VIRTIO_BLK_ID_BYTES

	descFNext  = 1 // VRING_DESC_F_NEXT
	descFWrite = 2 // VRING_DESC_F_WRITE: the device writes this buffer

	// BAR 0 layout of gonest's virtio-pci function (devices/virtio/pci.go);
	// a driver would find these through the vendor capabilities.
	tdCommon = 0x0000
	tdNotify = 0x3000 // queue 0's notify_off is 0
)

// Common configuration registers (virtio 1.2, 4.1.4.3).
const (
	ccDriverFeatureSelect = 0x08
	ccDriverFeature       = 0x0c
	ccDeviceStatus        = 0x14
	ccQueueSelect         = 0x16
	ccQueueSize           = 0x18
	ccQueueEnable         = 0x1c
	ccQueueDesc           = 0x20
	ccQueueDriver         = 0x28
	ccQueueDevice         = 0x30
)

// tinyDriver assembles the guest, request by request.
type tinyDriver struct {
	a    tinyelf.Asm
	sent uint16 // requests made available so far
}

// probe enables slot 1's memory decoding and bus mastering, loads its
// BAR 0 into RBX, and brings the device to DRIVER_OK with queue 0 set up.
func (d *tinyDriver) probe() {
	a := &d.a
	a.MovDX(boot.PCIConfigPort).MovEAX(0x8000_0804).OutL() // bus 0, device 1: COMMAND
	a.MovDX(boot.PCIConfigPort + 4).MovEAX(0x6).OutL()     // memory space, bus master
	a.MovDX(boot.PCIConfigPort).MovEAX(0x8000_0810).OutL() // BAR 0 (its upper half, BAR 1, is 0 below 4 GiB)
	a.MovDX(boot.PCIConfigPort + 4).InL()
	a.AndEAX(0xffff_fff0).MovEBXEAX()

	a.StoreRBXB(tdCommon+ccDeviceStatus, 0) // reset
	a.StoreRBXB(tdCommon+ccDeviceStatus, virtio.StatusAcknowledge)
	a.StoreRBXB(tdCommon+ccDeviceStatus, virtio.StatusAcknowledge|virtio.StatusDriver)
	a.StoreRBXL(tdCommon+ccDriverFeatureSelect, 1)
	a.StoreRBXL(tdCommon+ccDriverFeature, uint32(virtio.FeatureVersion1>>32))
	a.StoreRBXL(tdCommon+ccDriverFeatureSelect, 0)
	a.StoreRBXL(tdCommon+ccDriverFeature, 0)
	a.StoreRBXB(tdCommon+ccDeviceStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK)
	a.StoreRBXW(tdCommon+ccQueueSelect, 0)
	a.StoreRBXW(tdCommon+ccQueueSize, tdQueueSize)
	for _, r := range []struct{ off, addr uint32 }{{ccQueueDesc, tdDesc}, {ccQueueDriver, tdAvail}, {ccQueueDevice, tdUsed}} {
		a.StoreRBXL(tdCommon+r.off, r.addr).StoreRBXL(tdCommon+r.off+4, 0)
	}
	a.StoreRBXW(tdCommon+ccQueueEnable, 1)
	a.StoreRBXB(tdCommon+ccDeviceStatus, virtio.StatusAcknowledge|virtio.StatusDriver|virtio.StatusFeaturesOK|virtio.StatusDriverOK)
}

// desc writes descriptor i.
func (d *tinyDriver) desc(i uint32, addr uint64, n uint32, flags, next uint16) {
	base := tdDesc + 16*i
	d.a.StoreQ(base, addr).StoreL(base+8, n).StoreW(base+12, flags).StoreW(base+14, next)
}

// request sends one request of type typ at sector, with a data buffer of
// dataLen bytes at tdData (none when 0; device-writable when write),
// waits for the used ring to return it, and prints its status byte and
// then the first byte of the data buffer on COM1.
func (d *tinyDriver) request(typ uint32, sector uint64, dataLen uint32, write bool) {
	a := &d.a
	a.StoreL(tdHeader, typ).StoreL(tdHeader+4, 0).StoreQ(tdHeader+8, sector)
	a.StoreB(tdStatus, 0xee) // the device must overwrite it
	if dataLen == 0 {
		d.desc(0, tdHeader, 16, descFNext, 2)
	} else {
		flags := uint16(descFNext)
		if write {
			flags |= descFWrite
		}
		d.desc(0, tdHeader, 16, descFNext, 1)
		d.desc(1, tdData, dataLen, flags, 2)
	}
	d.desc(2, tdStatus, 1, descFWrite, 0)
	a.StoreW(tdAvail+4+2*uint32(d.sent%tdQueueSize), 0) // the chain's head
	d.sent++
	a.StoreW(tdAvail+2, d.sent) // avail->idx
	a.StoreRBXW(tdNotify, 0)    // notify queue 0: an ioeventfd write
	a.WaitW(tdUsed+2, d.sent)   // until used->idx catches up
	a.MovDX(boot.COM1Port).LoadAL(tdStatus).OutB()
	a.LoadAL(tdData).OutB()
}

// runTinyDriver runs the driver program below against a 64 KiB disk whose
// sector s is filled with byte s+1, and returns the console bytes and the
// disk's bytes afterwards.
func runTinyDriver(t *testing.T, ro bool) (string, []byte, []byte) {
	console, before, after, _ := runTinyDriverLogged(t, ro)
	return console, before, after
}

// runTinyDriverLogged is runTinyDriver with the machine's debug log (what
// gonest run -v prints) returned too.
func runTinyDriverLogged(t *testing.T, ro bool) (string, []byte, []byte, string) {
	img := t.TempDir() + "/disk.img"
	before := make([]byte, 64<<10)
	for s := 0; s < len(before)/blk.SectorSize; s++ {
		copy(before[s*blk.SectorSize:], bytes.Repeat([]byte{byte(s + 1)}, blk.SectorSize))
	}
	require.NoError(t, os.WriteFile(img, before, 0o644))

	var d tinyDriver
	d.probe()
	d.request(blk.TypeIn, 3, blk.SectorSize, true) // read sector 3: status 0, data 4
	d.a.MovRDI(tdData).MovAL(0x5a).MovRCX(blk.SectorSize).RepStosB()
	d.request(blk.TypeOut, 5, blk.SectorSize, false) // write 0x5a over sector 5
	d.request(blk.TypeFlush, 0, 0, false)
	d.request(blk.TypeIn, 5, blk.SectorSize, true)   // read it back
	d.request(blk.TypeIn, 128, blk.SectorSize, true) // past the end (128 sectors)
	d.request(blk.TypeGetID, 0, tdIDLen, true)       // the serial: "disk.img"
	d.request(0xff, 0, 0, false)                     // an unknown type
	d.a.Exit(boot.ExitPort, 0).Hlt()

	log := new(syncbuf.Buffer)
	o, console, m := runTiny(t, d.a.Bytes(), func(c *Config) {
		c.Disks = []DiskSpec{{Path: img, ReadOnly: ro}}
		c.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	require.Equal(t, 0, o.Code, "%v; console %q", o, console)
	// probe's 18 register writes exit to gonest; the 7 notifies must not:
	// KVM signals the queue's ioeventfd and resumes the guest at once.
	var bar0 uint64
	for _, dev := range m.Stats(o).Devices {
		if dev.Bus == "mmio" && dev.Name == "virtio-pci" {
			bar0 = dev.Accesses
		}
	}
	assert.Equal(t, uint64(18), bar0, "userspace exits on BAR 0: the common configuration writes only")
	after, err := os.ReadFile(img)
	require.NoError(t, err)
	return console, before, after, log.String()
}

// gonest run -v: the board as New built it, then what the guest's driver
// did to it, then how it ended.
func TestVerboseLogTellsTheBoardAndTheDriver(t *testing.T) {
	_, _, _, log := runTinyDriverLogged(t, false)
	for _, want := range []string{
		`msg="vm created"`,
		`msg="kernel loaded" format="ELF (64-bit entry)" entry=0x100000`,
		`msg=device bus=pio at=0x3f8+0x8 name="serial (COM1)"`,
		`msg=disk path=`,
		`msg="pci bar mapped" bar=0 at=0xc0000000+0x8000`,
		`msg="virtio device live (DRIVER_OK)" device=virtio-2 type=2 features=0x100000000 queues=1`,
		`msg="guest stopped" reason="exit device" exit_code=0`,
	} {
		assert.Contains(t, log, want)
	}
}

func TestTinyDriverReadsWritesAndFlushes(t *testing.T) {
	console, before, after := runTinyDriver(t, false)
	assert.Equal(t, ""+
		"\x00\x04"+ // IN sector 3: OK, sector 3 holds 4s
		"\x00\x5a"+ // OUT sector 5: OK
		"\x00\x5a"+ // FLUSH: OK (the data byte is the buffer's, unchanged)
		"\x00\x5a"+ // IN sector 5: the write reads back
		"\x01\x5a"+ // IN past the end: IOERR, the buffer untouched
		"\x00d"+ // GET_ID: OK, "disk.img"
		"\x02d", // unknown type: UNSUPP
		console)
	want := append([]byte(nil), before...)
	copy(want[5*blk.SectorSize:6*blk.SectorSize], bytes.Repeat([]byte{0x5a}, blk.SectorSize))
	assert.True(t, bytes.Equal(want, after), "the file holds exactly the one sector written")
}

// A read-only disk: the write fails with IOERR in the guest, and the host
// file is byte for byte what it was.
func TestTinyDriverReadOnlyDiskFailsWrites(t *testing.T) {
	console, before, after := runTinyDriver(t, true)
	assert.Equal(t, ""+
		"\x00\x04"+ // IN sector 3: OK
		"\x01\x5a"+ // OUT sector 5: IOERR
		"\x00\x5a"+ // FLUSH: OK, nothing to flush
		"\x00\x06"+ // IN sector 5: still 6s
		"\x01\x06"+ // IN past the end: IOERR
		"\x00d"+ // GET_ID
		"\x02d", // unknown type: UNSUPP
		console)
	assert.True(t, bytes.Equal(before, after), "a read-only disk's file is unchanged")
}
