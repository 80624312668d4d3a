package ide

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices"
	"github.com/gonest/gonest/devices/pci"
)

// piixDriver plays Linux's ata_piix and libata-sff against the
// controller through a PCI bus and the port I/O bus, in the order the
// kernel does things: PCI probe (piix_init_one, ata_pci_sff_init_host),
// port reset and classification (ata_sff_softreset), polled IDENTIFY
// (ata_dev_read_id), SET FEATURES for the PIO mode (ata_dev_set_mode),
// then interrupt-driven PIO commands stepped as ata_sff_hsm_move does.
type piixDriver struct {
	t       *testing.T
	pio     *devices.Bus
	line    *lineRecorder
	slot    int
	cmdBase [NumChannels]uint64
	ctlBase [NumChannels]uint64
	ctl     byte // libata's ap->ctl: ATA_DEVCTL_OBS
	multi   int  // the multiple count IDENTIFY word 59 reported
}

const (
	ataDevctlObs = 0x08 // ATA_DEVCTL_OBS: Linux keeps this obsolete bit set
	conf1Enable  = 1 << 31
	ioWindowBase = 0xC000
)

func newPIIXDriver(t *testing.T, drives ...Backend) (*piixDriver, *Controller) {
	t.Helper()
	ctl, line := newController(t, drives...)
	mmio, pio := devices.NewBus("mmio"), devices.NewBus("pio")
	bus, err := pci.NewBus(pci.Options{
		MMIO: mmio, Windows: []pci.Window{{Base: 0xC000_0000, Size: 0x1000_0000}},
		IO: pio, IOWindows: []pci.Window{{Base: ioWindowBase, Size: 0x4000}},
	})
	require.NoError(t, err)
	require.NoError(t, pio.Insert(bus.ConfigIO(), 0xCF8, 8))
	slot, err := bus.Add(ctl)
	require.NoError(t, err)
	return &piixDriver{t: t, pio: pio, line: line, slot: slot, ctl: ataDevctlObs}, ctl
}

func (d *piixDriver) cfgRead(reg uint32, n int) uint32 {
	d.pio.Write(0xCF8, le32(conf1Enable|uint32(d.slot)<<11|reg&0xFC))
	b := make([]byte, n)
	d.pio.Read(0xCFC+uint64(reg&3), b)
	var v [4]byte
	copy(v[:], b)
	return binary.LittleEndian.Uint32(v[:])
}

func (d *piixDriver) cfgWrite(reg uint32, n int, v uint32) {
	d.pio.Write(0xCF8, le32(conf1Enable|uint32(d.slot)<<11|reg&0xFC))
	d.pio.Write(0xCFC+uint64(reg&3), le32(v)[:n])
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// probe is the PCI side of the probe: identity, class, BAR sizing (the
// PCI core), pcim_enable_device, piix_pata_prereset's decode-enable test,
// and piix_set_timings' writes. It returns the channels with a decode
// enable bit.
func (d *piixDriver) probe() [NumChannels]bool {
	t := d.t
	require.Equal(t, uint32(vendorIntel|devicePIIX3<<16), d.cfgRead(pci.RegVendorID, 4))
	assert.Equal(t, uint32(classIDE), d.cfgRead(pci.RegRevision, 4)>>8, "class 01h/01h, native PCI mode")
	assert.Equal(t, uint32(1), d.cfgRead(pci.RegInterruptPin, 1), "INTA#")
	assert.Zero(t, d.cfgRead(pci.RegBAR0+16, 4), "no bus-master BAR 4: libata falls back to PIO")
	var enabled [NumChannels]bool
	for ch := range NumChannels {
		for i, want := range []uint32{CommandBlockSize, ControlBlockSize} {
			reg := uint32(pci.RegBAR0 + 4*(2*ch+i))
			orig := d.cfgRead(reg, 4)
			d.cfgWrite(reg, 4, 0xFFFFFFFF)
			size := d.cfgRead(reg, 4)
			d.cfgWrite(reg, 4, orig)
			if orig == 0 {
				continue // a channel without drives: no BARs, a dummy port to libata
			}
			assert.Equal(t, uint32(pci.BARSpaceIO), orig&3, "an I/O BAR")
			assert.Equal(t, want, ^(size&^3)+1, "BAR %d size", 2*ch+i)
			if i == 0 {
				d.cmdBase[ch] = uint64(orig &^ 3)
			} else {
				d.ctlBase[ch] = uint64(orig &^ 3) // the register is at ATA_PCI_CTL_OFS (2)
			}
		}
		idetim := uint16(d.cfgRead(uint32(regIDETIMPrimary+2*ch), 2))
		enabled[ch] = idetim&idetimDecodeEnable != 0
		assert.Equal(t, d.cmdBase[ch] != 0, enabled[ch], "decode enable marks the channels that have BARs")
	}
	d.cfgWrite(pci.RegCommand, 2, d.cfgRead(pci.RegCommand, 2)|pci.CommandIO)
	assert.Zero(t, d.cfgRead(0x54, 4), "PIIX_IOCFG reads 0: no cable bits")
	// piix_set_timings for PIO 4 on device 0 of channel 0: ISP 2, RTC 3,
	// TIME0, IE0, PPE0, SITRE, decode enable kept.
	v := uint16(d.cfgRead(regIDETIMPrimary, 2))
	v = v&0xCCF0 | 0x7 | 2<<12 | 3<<8 | idetimSITRE
	d.cfgWrite(regIDETIMPrimary, 2, uint32(v))
	assert.Equal(t, uint32(v), d.cfgRead(regIDETIMPrimary, 2), "IDETIM is writable storage")
	return enabled
}

func (d *piixDriver) inb(ch int, off uint64) byte {
	b := []byte{0}
	require.True(d.t, d.pio.Read(d.cmdBase[ch]+off, b), "port %#x decodes", d.cmdBase[ch]+off)
	return b[0]
}

func (d *piixDriver) outb(ch int, off uint64, v byte) {
	require.True(d.t, d.pio.Write(d.cmdBase[ch]+off, []byte{v}))
}

func (d *piixDriver) altStatus(ch int) byte {
	b := []byte{0}
	require.True(d.t, d.pio.Read(d.ctlBase[ch]+regAltStatus, b))
	return b[0]
}

func (d *piixDriver) setDevctl(ch int, v byte) {
	require.True(d.t, d.pio.Write(d.ctlBase[ch]+regDevControl, []byte{v}))
}

// ins reads n bytes with 32-bit accesses (ata_sff_data_xfer32).
func (d *piixDriver) ins(ch, n int) []byte {
	out := make([]byte, n)
	for i := 0; i < n; i += 4 {
		require.True(d.t, d.pio.Read(d.cmdBase[ch]+regData, out[i:i+4]))
	}
	return out
}

func (d *piixDriver) outs(ch int, b []byte) {
	for i := 0; i < len(b); i += 4 {
		require.True(d.t, d.pio.Write(d.cmdBase[ch]+regData, b[i:i+4]))
	}
}

func (d *piixDriver) devSelect(ch, dev int) {
	v := byte(0xA0) // ATA_DEVICE_OBS
	if dev == 1 {
		v |= deviceDEV
	}
	d.outb(ch, regDevice, v)
	d.altStatus(ch) // ata_sff_pause
}

// devchk is ata_devchk: a device answers a pattern in count and LBA low.
func (d *piixDriver) devchk(ch, dev int) bool {
	d.devSelect(ch, dev)
	for _, p := range [][2]byte{{0x55, 0xAA}, {0xAA, 0x55}, {0x55, 0xAA}} {
		d.outb(ch, regCount, p[0])
		d.outb(ch, regLBALow, p[1])
	}
	return d.inb(ch, regCount) == 0x55 && d.inb(ch, regLBALow) == 0xAA
}

// softreset is ata_sff_softreset: find the devices, pulse SRST, wait for
// !BSY, and classify each device by its signature.
func (d *piixDriver) softreset(ch int) [DrivesPerChannel]string {
	var present [DrivesPerChannel]bool
	for dev := range DrivesPerChannel {
		present[dev] = d.devchk(ch, dev)
	}
	d.devSelect(ch, 0)
	d.setDevctl(ch, d.ctl)
	d.setDevctl(ch, d.ctl|devctlSRST)
	assert.Equal(d.t, byte(statusBSY), d.altStatus(ch), "busy while SRST is held")
	d.setDevctl(ch, d.ctl)
	assert.Zero(d.t, d.inb(ch, regStatus)&statusBSY, "ready right after SRST")
	var classes [DrivesPerChannel]string
	for dev := range DrivesPerChannel {
		d.devSelect(ch, dev)
		errReg := d.inb(ch, regError)
		lbam, lbah := d.inb(ch, regLBAMid), d.inb(ch, regLBAHigh) // ata_dev_classify
		switch {
		case errReg != 1 && !(dev == 0 && errReg == 0x81):
			classes[dev] = "none"
		case lbam == 0 && lbah == 0 && d.inb(ch, regStatus) != 0:
			classes[dev] = "ata"
		case lbam == 0x14 && lbah == 0xEB:
			classes[dev] = "atapi"
		default:
			classes[dev] = "none"
		}
		if !present[dev] {
			classes[dev] = "none"
		}
	}
	d.setDevctl(ch, d.ctl) // ata_sff_postreset
	return classes
}

// identify is ata_dev_read_id's polled IDENTIFY DEVICE (nIEN set).
func (d *piixDriver) identify(ch, dev int) []uint16 {
	t := d.t
	d.devSelect(ch, dev)
	d.setDevctl(ch, d.ctl|devctlNIEN)
	d.outb(ch, regDevice, 0xA0|byte(dev)<<4)
	d.outb(ch, regCommand, cmdIdentifyDevice)
	d.altStatus(ch)
	assert.False(t, d.line.high(), "nIEN: no interrupt while polling")
	st := d.inb(ch, regStatus)
	require.Equal(t, byte(statusReady|statusDRQ), st, "IDENTIFY has data")
	raw := d.ins(ch, SectorSize)
	require.Equal(t, byte(statusReady), d.inb(ch, regStatus), "after the last word: ready, no DRQ")
	var sum byte
	for _, b := range raw {
		sum += b
	}
	assert.Zero(t, sum, "word 255's checksum makes the data sum to 0")
	assert.Equal(t, byte(integritySignature), raw[510])
	words := make([]uint16, identifyWords)
	for i := range words {
		words[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	d.setDevctl(ch, d.ctl) // ata_sff_irq_on
	assert.False(t, d.line.high(), "the polled command's interrupt was cleared by the status reads")
	return words
}

// irq waits for INTRQ the way the interrupt handler gets it, then reads
// status as ata_sff_irq_status does; INTRQ must drop.
func (d *piixDriver) irq(ch int, what string) byte {
	t := d.t
	require.True(t, d.line.high(), "%s: INTRQ", what)
	alt := d.altStatus(ch)
	require.Zero(t, alt&statusBSY, "%s: not busy", what)
	st := d.inb(ch, regStatus)
	assert.False(t, d.line.high(), "%s: reading status releases INTRQ", what)
	return st
}

// taskfile writes a command's registers as ata_sff_tf_load does.
func (d *piixDriver) taskfile(ch, dev int, feature byte, lba, count uint64, ext bool) {
	if ext {
		d.outb(ch, regFeature, 0)
		d.outb(ch, regCount, byte(count>>8))
		d.outb(ch, regLBALow, byte(lba>>24))
		d.outb(ch, regLBAMid, byte(lba>>32))
		d.outb(ch, regLBAHigh, byte(lba>>40))
	}
	d.outb(ch, regFeature, feature)
	d.outb(ch, regCount, byte(count))
	d.outb(ch, regLBALow, byte(lba))
	d.outb(ch, regLBAMid, byte(lba>>8))
	d.outb(ch, regLBAHigh, byte(lba>>16))
	dv := byte(deviceLBA | byte(dev)<<4)
	if !ext {
		dv |= byte(lba>>24) & deviceHeadMask
	}
	d.outb(ch, regDevice, dv)
}

// nodata runs a non-data command with interrupts and returns the final
// status and error.
func (d *piixDriver) nodata(ch, dev int, cmd, feature, count byte) (byte, byte) {
	d.devSelect(ch, dev)
	d.taskfile(ch, dev, feature, 0, uint64(count), false)
	d.outb(ch, regCommand, cmd)
	d.altStatus(ch)
	st := d.irq(ch, "non-data command")
	return st, d.inb(ch, regError)
}

// pioIn reads count sectors with cmd, stepping the data-in protocol: an
// interrupt before each DRQ block, none after the last.
func (d *piixDriver) pioIn(ch, dev int, cmd byte, lba, count uint64, ext bool) []byte {
	t := d.t
	block := uint64(1)
	if cmd == cmdReadMultiple || cmd == cmdReadMultipleExt {
		block = uint64(d.multi)
	}
	d.devSelect(ch, dev)
	d.taskfile(ch, dev, 0, lba, count, ext)
	d.outb(ch, regCommand, cmd)
	d.altStatus(ch)
	var out []byte
	for left := count; left > 0; {
		st := d.irq(ch, "data-in block")
		require.Equal(t, byte(statusReady|statusDRQ), st, "DRQ for the next block (%d sectors left)", left)
		n := min(left, block)
		out = append(out, d.ins(ch, int(n*SectorSize))...)
		left -= n
	}
	assert.False(t, d.line.high(), "no interrupt after the last data-in block")
	assert.Equal(t, byte(statusReady), d.inb(ch, regStatus), "ata_wait_idle: done")
	return out
}

// pioOut writes data with cmd, stepping the data-out protocol: the first
// block on DRQ without an interrupt, an interrupt after each block.
func (d *piixDriver) pioOut(ch, dev int, cmd byte, lba uint64, data []byte, ext bool) {
	t := d.t
	count := uint64(len(data) / SectorSize)
	block := uint64(1)
	if cmd == cmdWriteMultiple || cmd == cmdWriteMultipleExt {
		block = uint64(d.multi)
	}
	d.devSelect(ch, dev)
	d.taskfile(ch, dev, 0, lba, count, ext)
	d.outb(ch, regCommand, cmd)
	d.altStatus(ch)
	assert.False(t, d.line.high(), "PIO data-out: no interrupt before the first block")
	st := d.inb(ch, regStatus) // ata_sff_pio_task polls
	require.Equal(t, byte(statusReady|statusDRQ), st, "HSM_ST_FIRST: DRQ")
	for off := uint64(0); off < count; {
		n := min(count-off, block)
		d.outs(ch, data[off*SectorSize:(off+n)*SectorSize])
		off += n
		st := d.irq(ch, "data-out block")
		if off < count {
			require.Equal(t, byte(statusReady|statusDRQ), st, "DRQ for the next block")
		} else {
			require.Equal(t, byte(statusReady), st, "HSM_ST_LAST: done")
		}
	}
}

func TestLinuxProbeReadWriteFlush(t *testing.T) {
	master, slave := newMemDisk(2048), newMemDisk(64)
	master.serial, slave.serial = "boot-disk", "data-disk"
	huge := &hugeDisk{sectors: 1 << 33, written: map[uint64][]byte{}} // 4 TiB: LBA48 only
	d, _ := newPIIXDriver(t, master, slave, huge)

	enabled := d.probe()
	assert.Equal(t, [NumChannels]bool{true, true}, enabled)
	assert.Equal(t, [DrivesPerChannel]string{"ata", "ata"}, d.softreset(0))
	assert.Equal(t, [DrivesPerChannel]string{"ata", "none"}, d.softreset(1), "no slave on the secondary channel")

	// IDENTIFY what ata_dev_configure looks at.
	id := d.identify(0, 0)
	assert.Equal(t, "boot-disk", strings.TrimSpace(ataString(id[idSerial:idSerial+10])))
	assert.Equal(t, modelName, strings.TrimSpace(ataString(id[idModel:idModel+20])))
	assert.Zero(t, id[idGeneralConfig]&(1<<15), "an ATA device")
	assert.NotZero(t, id[idCapabilities]&capLBA)
	assert.Equal(t, uint32(2048), uint32(id[idLBA28Capacity])|uint32(id[idLBA28Capacity+1])<<16)
	assert.Equal(t, uint64(2048), lba48Capacity(id))
	assert.Equal(t, uint16(0x80<<8|maxMultiple), id[idMaxMultiple])
	assert.Equal(t, uint16(multipleValid|maxMultiple), id[idMultiple], "multiple mode on at power-on")
	assert.NotZero(t, id[idEnabled1]&cs1WriteCache, "write cache on: Linux sends FLUSH CACHE")
	assert.NotZero(t, id[idEnabled2]&cs2FlushCacheExt)
	assert.Equal(t, uint16(0x4000|hwResetDev0|hwResetDev0PDIAG), id[idHWResetResult])
	assert.Zero(t, id[idUDMA]|id[idMWDMA], "no DMA modes")
	assert.Equal(t, "data-disk", strings.TrimSpace(ataString(d.identify(0, 1)[idSerial:idSerial+10])))
	hid := d.identify(1, 0)
	assert.Equal(t, uint64(1<<33), lba48Capacity(hid))
	assert.Equal(t, uint32(maxLBA28), uint32(hid[idLBA28Capacity])|uint32(hid[idLBA28Capacity+1])<<16, "LBA28 capacity saturates")
	d.multi = int(id[idMultiple] & 0xFF)

	// ata_dev_set_mode: PIO 4.
	st, _ := d.nodata(0, 0, cmdSetFeatures, featSetTransferMode, xferModePIOFlowControl|4)
	assert.Equal(t, byte(statusReady), st)

	// Reads: one sector, then MULTIPLE with a partial last block.
	assert.Equal(t, sectorOf(11), d.pioIn(0, 0, cmdReadSectors, 10, 1, false))
	got := d.pioIn(0, 0, cmdReadMultiple, 100, 40, false) // blocks of 16, 16, 8
	require.Len(t, got, 40*SectorSize)
	for s := range 40 {
		assert.Equal(t, byte(101+s), got[s*SectorSize], "sector %d", 100+s)
	}
	assert.Equal(t, sectorOf(2), d.pioIn(0, 1, cmdReadSectorsExt, 1, 1, true), "the slave's own disk")

	// Writes, then read back through the device and check the backend.
	data := bytes.Repeat([]byte("gonest-ide-pio!!"), 20*SectorSize/16)
	d.pioOut(0, 0, cmdWriteMultiple, 500, data, false)
	assert.Equal(t, data, d.pioIn(0, 0, cmdReadMultipleExt, 500, 20, true))
	d.pioOut(0, 0, cmdWriteSectorsExt, 2047, sectorOf(0xEE), true)
	assert.Equal(t, sectorOf(0xEE), master.sector(2047), "the last sector")
	assert.Equal(t, sectorOf(2), master.sector(1), "untouched")
	syncs := master.syncs
	st, _ = d.nodata(0, 0, cmdFlushCacheExt, 0, 0)
	assert.Equal(t, byte(statusReady), st)
	assert.Equal(t, syncs+1, master.syncs, "FLUSH CACHE EXT is one fdatasync")

	// LBA48 past 2^32 on the secondary channel.
	far := uint64(1)<<32 + 5
	in := d.pioIn(1, 0, cmdReadSectorsExt, far, 2, true)
	assert.Equal(t, far, binary.LittleEndian.Uint64(in), "sector 2^32+5 reads its own LBA")
	assert.Equal(t, far+1, binary.LittleEndian.Uint64(in[SectorSize:]))
	d.pioOut(1, 0, cmdWriteMultipleExt, far, bytes.Repeat([]byte{0x42}, 3*SectorSize), true)
	assert.Equal(t, sectorOf(0x42), huge.written[far+2])

	// Poweroff: SYNCHRONIZE CACHE then START STOP UNIT become FLUSH CACHE
	// EXT and STANDBY IMMEDIATE.
	st, _ = d.nodata(0, 0, cmdFlushCacheExt, 0, 0)
	assert.Equal(t, byte(statusReady), st)
	st, _ = d.nodata(0, 0, cmdStandbyImmediate, 0, 0)
	assert.Equal(t, byte(statusReady), st)
	assert.Empty(t, master.outside)
	assert.Empty(t, slave.outside)
}

func ataString(words []uint16) string {
	var b strings.Builder
	for _, w := range words {
		b.WriteByte(byte(w >> 8))
		b.WriteByte(byte(w))
	}
	return b.String()
}

func lba48Capacity(id []uint16) uint64 {
	var n uint64
	for i := range 4 {
		n |= uint64(id[idLBA48Capacity+i]) << (16 * i)
	}
	return n
}
