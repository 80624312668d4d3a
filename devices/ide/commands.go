package ide

import "math/bits"

// execute runs command cmd, written to the Command register of this
// drive (the selected one). It runs to completion here, on the vCPU
// thread that wrote it: the guest never sees BSY for a command, only DRQ
// when data is to move, and the pending interrupt.
func (d *drive) execute(cmd byte) {
	d.pending = false
	if d.phase != phaseIdle {
		// A command while DRQ is set (ATA8-ACS leaves it undefined):
		// the transfer ends and the new command is aborted, so a
		// confused or hostile driver gets an error, not a half-moved
		// block.
		d.fail(errABRT)
		return
	}
	if cmd != cmdCheckPowerMode {
		d.power = powerActive
	}
	switch cmd {
	case cmdReadSectors, cmdReadSectorsNoRetry:
		d.startTransfer(false, false, false)
	case cmdReadSectorsExt:
		d.startTransfer(true, false, false)
	case cmdReadMultiple:
		d.startTransfer(false, false, true)
	case cmdReadMultipleExt:
		d.startTransfer(true, false, true)
	case cmdWriteSectors, cmdWriteSectorsNoRetry:
		d.startTransfer(false, true, false)
	case cmdWriteSectorsExt:
		d.startTransfer(true, true, false)
	case cmdWriteMultiple:
		d.startTransfer(false, true, true)
	case cmdWriteMultipleExt:
		d.startTransfer(true, true, true)
	case cmdReadVerifySectors, cmdReadVerifyNoRetry:
		d.verify(false)
	case cmdReadVerifySectorsExt:
		d.verify(true)
	case cmdIdentifyDevice:
		d.identify(d.buf[:SectorSize])
		d.sectorIO = false
		d.pos, d.end = 0, SectorSize
		d.phase = phaseDataIn
		d.status = statusReady | statusDRQ
		d.pending = true
	case cmdSetFeatures:
		d.setFeatures()
	case cmdSetMultipleMode:
		d.setMultiple()
	case cmdInitDeviceParams:
		d.initDeviceParams()
	case cmdFlushCache, cmdFlushCacheExt:
		d.flush()
	case cmdStandbyImmediate, cmdStandby, cmdSleep:
		// Standby writes the cache out first (ATA8-ACS §7.55); SLEEP
		// is treated as standby: an image never needs waking.
		if d.flushed() {
			d.power = powerStandby
			d.complete()
		}
	case cmdIdleImmediate, cmdIdle:
		d.power = powerIdle
		d.complete()
	case cmdCheckPowerMode:
		d.count.cur = d.power
		d.complete()
	default:
		// NOP, DEVICE RESET, IDENTIFY PACKET DEVICE (an ATA device
		// aborts it, which is how a host tells ATA from ATAPI), SMART,
		// the logs, the Host Protected Area, DMA, security, and all
		// that no ATA standard defines.
		d.fail(errABRT)
	}
}

// startTransfer begins a READ or WRITE (SECTORS or MULTIPLE, LBA28/CHS or
// LBA48) after checking everything the guest controls: the multiple
// count, the CHS address, the range against the capacity, and whether
// the disk is writable.
func (d *drive) startTransfer(ext, write, multiple bool) {
	d.ext = ext
	if multiple && d.multiple == 0 {
		d.fail(errABRT) // READ/WRITE MULTIPLE before SET MULTIPLE MODE enabled them
		return
	}
	lba, count, ok := d.address(ext)
	if !ok || !d.inRange(lba, count) {
		d.failAt(errIDNF|errABRT, lba)
		return
	}
	if write && d.be.ReadOnly() {
		d.fail(errABRT) // ,ro: the image is never written
		return
	}
	d.sectorIO = true
	d.lba, d.left, d.block = lba, count, 1
	if multiple {
		d.block = d.multiple
	}
	if write {
		d.nextDataOutBlock() // the first block needs no interrupt (PIO data-out, ATA/ATAPI-6 §9.8)
		return
	}
	d.nextDataInBlock()
}

// nextDataInBlock reads the next DRQ block from the image and interrupts:
// the host reads status, then the block.
func (d *drive) nextDataInBlock() {
	n := min(d.left, d.block)
	b := d.buf[:n*SectorSize]
	if err := d.be.ReadAt(b, int64(d.lba*SectorSize)); err != nil {
		d.ioError("read", err)
		d.failAt(errUNC, d.lba)
		return
	}
	d.pos, d.end = 0, len(b)
	d.phase = phaseDataIn
	d.status = statusReady | statusDRQ
	d.pending = true
}

// dataInBlockDone follows the host's read of a block's last word: the
// next block, or the end of the command, which PIO data-in ends without
// an interrupt.
func (d *drive) dataInBlockDone() {
	if !d.sectorIO {
		d.phase = phaseIdle
		d.status = statusReady
		return
	}
	n := uint64(d.end / SectorSize)
	d.lba += n
	d.left -= n
	if d.left > 0 {
		d.nextDataInBlock()
		return
	}
	d.phase = phaseIdle
	d.status = statusReady
}

// nextDataOutBlock asks the host for the next block (DRQ).
func (d *drive) nextDataOutBlock() {
	n := min(d.left, d.block)
	d.pos, d.end = 0, int(n*SectorSize)
	d.phase = phaseDataOut
	d.status = statusReady | statusDRQ
}

// dataOutBlockDone writes a block the host has filled to the image, then
// asks for the next one or completes, each with an interrupt. With the
// write cache off the data is synced before the command completes.
func (d *drive) dataOutBlockDone() {
	if err := d.be.WriteAt(d.buf[:d.end], int64(d.lba*SectorSize)); err != nil {
		d.ioError("write", err)
		d.failAt(errABRT, d.lba)
		return
	}
	n := uint64(d.end / SectorSize)
	d.lba += n
	d.left -= n
	if d.left > 0 {
		d.nextDataOutBlock()
		d.pending = true
		return
	}
	if !d.writeCache && !d.flushed() {
		return
	}
	d.complete()
}

// verify is READ VERIFY SECTORS: the range is checked, nothing moves.
func (d *drive) verify(ext bool) {
	d.ext = ext
	lba, count, ok := d.address(ext)
	if !ok || !d.inRange(lba, count) {
		d.failAt(errIDNF|errABRT, lba)
		return
	}
	d.complete()
}

// flush is FLUSH CACHE (EXT): fdatasync of the image.
func (d *drive) flush() {
	if d.flushed() {
		d.complete()
	}
}

// flushed syncs the image and reports success; on failure it has failed
// the command.
func (d *drive) flushed() bool {
	if err := d.be.Sync(); err != nil {
		d.ioError("flush", err)
		d.fail(errABRT)
		return false
	}
	return true
}

// setFeatures is SET FEATURES: the subcommand is in the features register.
func (d *drive) setFeatures() {
	switch d.feature.cur {
	case featEnableWriteCache:
		d.writeCache = true
	case featDisableWriteCache:
		// From now on every write is synced; make the ones already
		// completed stable too.
		if !d.flushed() {
			return
		}
		d.writeCache = false
	case featEnableReadAhead:
		d.readAhead = true
	case featDisableReadAhead:
		d.readAhead = false
	case featEnableRevert:
		d.revert = true
	case featDisableRevert:
		d.revert = false
	case featSetTransferMode:
		// Any PIO mode the drive advertises; no DMA mode, as the
		// controller has no bus master. The mode changes nothing else.
		mode := d.count.cur
		switch {
		case mode == xferModePIODefault, mode == xferModePIODefaultNoRD:
		case mode&xferModeMaskType == xferModePIOFlowControl && mode&^xferModeMaskType <= maxPIOMode:
		default:
			d.fail(errABRT)
			return
		}
	default:
		d.fail(errABRT)
		return
	}
	d.complete()
}

// setMultiple is SET MULTIPLE MODE: a power of two up to maxMultiple, or 0
// to disable READ/WRITE MULTIPLE (ACS-2 §7.49).
func (d *drive) setMultiple() {
	n := uint64(d.count.cur)
	if n > maxMultiple || (n != 0 && bits.OnesCount64(n) != 1) {
		d.fail(errABRT)
		return
	}
	d.multiple = n
	d.complete()
}

// initDeviceParams is INITIALIZE DEVICE PARAMETERS: the CHS translation
// takes its heads from the device register and its sectors per track
// from the count register. Zero sectors per track is refused.
func (d *drive) initDeviceParams() {
	spt := uint16(d.count.cur)
	if spt == 0 {
		d.fail(errABRT)
		return
	}
	d.heads, d.spt = uint16(d.device&deviceHeadMask)+1, spt
	d.complete()
}
