package ide

import (
	"encoding/binary"
	"log/slog"

	"github.com/gonest/gonest/devices/disk"
)

// Backend is the storage behind a drive: a *disk.Image in gonest, memory
// in tests. The drive checks every sector range against Sectors before it
// calls ReadAt or WriteAt.
type Backend interface {
	Sectors() uint64
	ReadOnly() bool
	Serial() [disk.SerialBytes]byte
	ReadAt(p []byte, off int64) error
	WriteAt(p []byte, off int64) error
	Sync() error
	Close() error
}

var _ Backend = (*disk.Image)(nil)

// phase is where the drive is in the PIO protocol (ATA/ATAPI-6 §9).
type phase uint8

const (
	phaseIdle    phase = iota // no transfer: DRQ clear
	phaseDataIn               // DRQ set: the host reads buf[pos:end]
	phaseDataOut              // DRQ set: the host writes buf[pos:end]
)

// taskReg is a taskfile register and the value it held before the last
// write: LBA48 commands take their upper bytes from the previous values,
// and HOB reads them back (ATA8-ACS §6.1.2).
type taskReg struct{ cur, prev byte }

func (r *taskReg) write(v byte) { r.prev, r.cur = r.cur, v }

func (r *taskReg) read(hob bool) byte {
	if hob {
		return r.prev
	}
	return r.cur
}

// drive is one ATA device on a channel. The channel holds its lock around
// every method.
type drive struct {
	be          Backend
	unit        int    // 0 master (device 0), 1 slave (device 1)
	sectors     uint64 // the capacity the guest sees
	peerPresent bool   // the other device on the channel exists (IDENTIFY word 93)
	log         *slog.Logger
	ioWarned    bool

	// The taskfile.
	feature, count, lbaLow, lbaMid, lbaHigh taskReg
	device                                  byte
	status                                  byte
	err                                     byte
	// pending is the drive's interrupt: set when a command or a DRQ
	// block needs the host, cleared by a status read, a new command or
	// SRST. The channel drives INTRQ from the selected drive's pending.
	pending bool

	// The transfer in progress.
	phase    phase
	sectorIO bool   // data blocks come from or go to the image (not IDENTIFY)
	ext      bool   // an LBA48 command: errors report a 48-bit address
	lba      uint64 // the next sector to transfer
	left     uint64 // sectors still to transfer, the current block included
	block    uint64 // sectors per DRQ block: 1, or the multiple count
	pos      int    // next byte of buf the host transfers
	end      int    // bytes in the current block
	buf      [maxMultiple * SectorSize]byte

	// Settings: SET MULTIPLE MODE, SET FEATURES, INITIALIZE DEVICE
	// PARAMETERS, power commands.
	multiple   uint64 // sectors per block for READ/WRITE MULTIPLE; 0 disables them
	writeCache bool   // writes complete before they are synced; FLUSH CACHE syncs
	readAhead  bool   // read look-ahead: stored and reported, nothing to do
	revert     bool   // SRST reverts the settings to the power-on ones
	heads, spt uint16 // current CHS translation
	power      byte   // CHECK POWER MODE's answer
}

func newDrive(be Backend, unit int, peer bool, log *slog.Logger) *drive {
	d := &drive{be: be, unit: unit, sectors: be.Sectors(), peerPresent: peer, log: log}
	d.powerOn()
	return d
}

// powerOn sets the power-on state: settings at their defaults, the
// diagnostic result and the ATA signature in the taskfile.
func (d *drive) powerOn() {
	d.defaults()
	d.signature()
	d.status = statusReady
}

// defaults are the power-on settings, which SRST restores after SET
// FEATURES CCh.
func (d *drive) defaults() {
	d.multiple = maxMultiple
	d.writeCache = true
	d.readAhead = true
	d.revert = false
	_, d.heads, d.spt = d.defaultGeometry()
	d.power = powerActive
}

// signature loads the ATA device signature and diagnostic code a reset or
// EXECUTE DEVICE DIAGNOSTIC leaves (ATA8-ACS §9.12: count 01h, LBA 00 00
// 01h for an ATA device).
func (d *drive) signature() {
	d.phase = phaseIdle
	d.count = taskReg{cur: 1}
	d.lbaLow = taskReg{cur: 1}
	d.lbaMid, d.lbaHigh, d.feature = taskReg{}, taskReg{}, taskReg{}
	d.device = 0
	d.err = diagPassed
}

// beginReset is SRST going to one: the drive drops what it was doing and
// is busy until SRST goes back to zero.
func (d *drive) beginReset() {
	d.phase = phaseIdle
	d.pending = false
	d.status = statusBSY
}

// endReset is SRST going back to zero (ATA8-ACS §11.2): signature,
// diagnostic code, ready, no interrupt.
func (d *drive) endReset() {
	if d.revert {
		d.defaults()
	}
	d.signature()
	d.status = statusReady
	d.pending = false
}

// readReg returns taskfile register off (1 to 7) as the host reads it.
func (d *drive) readReg(off uint64, hob bool) byte {
	if d.status&statusBSY != 0 {
		return d.status // while busy every register reads as status
	}
	switch off {
	case regError:
		return d.err
	case regCount:
		return d.count.read(hob)
	case regLBALow:
		return d.lbaLow.read(hob)
	case regLBAMid:
		return d.lbaMid.read(hob)
	case regLBAHigh:
		return d.lbaHigh.read(hob)
	case regDevice:
		return d.device
	case regStatus:
		d.pending = false
		return d.status
	}
	return 0xFF
}

// writeReg stores a write of taskfile register off (1 to 6). Both drives
// of a channel see every write.
func (d *drive) writeReg(off uint64, v byte) {
	if d.status&statusBSY != 0 {
		return
	}
	switch off {
	case regFeature:
		d.feature.write(v)
	case regCount:
		d.count.write(v)
	case regLBALow:
		d.lbaLow.write(v)
	case regLBAMid:
		d.lbaMid.write(v)
	case regLBAHigh:
		d.lbaHigh.write(v)
	case regDevice:
		d.device = v
	}
}

// readData returns the next data word of a data-in transfer; with no
// transfer it returns all ones and changes nothing.
func (d *drive) readData() uint16 {
	if d.phase != phaseDataIn {
		return 0xFFFF
	}
	v := binary.LittleEndian.Uint16(d.buf[d.pos:])
	d.pos += 2
	if d.pos == d.end {
		d.dataInBlockDone()
	}
	return v
}

// writeData takes the next data word of a data-out transfer; with no
// transfer it is dropped.
func (d *drive) writeData(v uint16) {
	if d.phase != phaseDataOut {
		return
	}
	binary.LittleEndian.PutUint16(d.buf[d.pos:], v)
	d.pos += 2
	if d.pos == d.end {
		d.dataOutBlockDone()
	}
}

// complete ends a command successfully and interrupts the host.
func (d *drive) complete() {
	d.phase = phaseIdle
	d.status = statusReady
	d.pending = true
}

// fail ends a command with error bits errBits and interrupts the host.
func (d *drive) fail(errBits byte) {
	d.phase = phaseIdle
	d.err = errBits
	d.status = statusFailed
	d.pending = true
}

// failAt is fail for a media access command, with the address of the
// sector that failed in the LBA registers (ATA8-ACS §7.28.5).
func (d *drive) failAt(errBits byte, lba uint64) {
	d.fail(errBits)
	d.lbaLow.cur, d.lbaMid.cur, d.lbaHigh.cur = byte(lba), byte(lba>>8), byte(lba>>16)
	if d.ext {
		d.lbaLow.prev, d.lbaMid.prev, d.lbaHigh.prev = byte(lba>>24), byte(lba>>32), byte(lba>>40)
	} else if d.device&deviceLBA != 0 {
		d.device = d.device&^deviceHeadMask | byte(lba>>24)&deviceHeadMask
	}
}

// ioError logs the first host I/O error of this drive; the guest sees an
// error status for every one.
func (d *drive) ioError(op string, err error) {
	if !d.ioWarned {
		d.ioWarned = true
		d.log.Warn("ide disk i/o error; the guest sees the command fail (further errors are not logged)",
			"unit", d.unit, "op", op, "err", err)
	}
}

// inRange reports whether count sectors from lba lie inside the disk.
func (d *drive) inRange(lba, count uint64) bool {
	return count <= d.sectors && lba <= d.sectors-count
}

// chsGeometry is the current CHS translation, with the cylinders the
// capacity allows; ok is false when INITIALIZE DEVICE PARAMETERS set one
// that addresses nothing.
func (d *drive) chsGeometry() (cyl, heads, spt uint16, ok bool) {
	if d.heads == 0 || d.spt == 0 {
		return 0, 0, 0, false
	}
	c := min(d.sectors/(uint64(d.heads)*uint64(d.spt)), 65535)
	return uint16(c), d.heads, d.spt, c > 0
}

// address decodes the start and length of a media access command: LBA48
// from the current and previous register values, LBA28 from the current
// ones and the device register, or a CHS triple through the current
// translation. ok is false for a CHS address outside the translation.
func (d *drive) address(ext bool) (lba, count uint64, ok bool) {
	if ext {
		lba = uint64(d.lbaHigh.prev)<<40 | uint64(d.lbaMid.prev)<<32 | uint64(d.lbaLow.prev)<<24 |
			uint64(d.lbaHigh.cur)<<16 | uint64(d.lbaMid.cur)<<8 | uint64(d.lbaLow.cur)
		count = uint64(d.count.prev)<<8 | uint64(d.count.cur)
		if count == 0 {
			count = 65536
		}
		return lba, count, true
	}
	count = uint64(d.count.cur)
	if count == 0 {
		count = 256
	}
	if d.device&deviceLBA != 0 {
		lba = uint64(d.device&deviceHeadMask)<<24 | uint64(d.lbaHigh.cur)<<16 | uint64(d.lbaMid.cur)<<8 | uint64(d.lbaLow.cur)
		return lba, count, true
	}
	cyls, heads, spt, ok := d.chsGeometry()
	cyl := uint64(d.lbaHigh.cur)<<8 | uint64(d.lbaMid.cur)
	head := uint64(d.device & deviceHeadMask)
	sector := uint64(d.lbaLow.cur)
	if !ok || cyl >= uint64(cyls) || head >= uint64(heads) || sector == 0 || sector > uint64(spt) {
		return 0, count, false
	}
	return (cyl*uint64(heads)+head)*uint64(spt) + sector - 1, count, true
}
