package ide

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices/pci"
)

// command writes a taskfile and a command the way a guest of its own
// choosing would: LBA28 with LBA set, or LBA48 with the high bytes first.
func (p port) command(cmd byte, lba, count uint64, ext bool) {
	if ext {
		p.outb(regCount, byte(count>>8))
		p.outb(regLBALow, byte(lba>>24))
		p.outb(regLBAMid, byte(lba>>32))
		p.outb(regLBAHigh, byte(lba>>40))
	}
	p.outb(regCount, byte(count))
	p.outb(regLBALow, byte(lba))
	p.outb(regLBAMid, byte(lba>>8))
	p.outb(regLBAHigh, byte(lba>>16))
	p.outb(regDevice, deviceLBA|byte(lba>>24)&deviceHeadMask)
	p.outb(regCommand, cmd)
}

// lbaRegs reads back the address the LBA registers hold.
func (p port) lbaRegs(ext bool) uint64 {
	lba := uint64(p.inb(regLBALow)) | uint64(p.inb(regLBAMid))<<8 | uint64(p.inb(regLBAHigh))<<16
	if ext {
		p.devctl(devctlHOB)
		lba |= uint64(p.inb(regLBALow))<<24 | uint64(p.inb(regLBAMid))<<32 | uint64(p.inb(regLBAHigh))<<40
		p.devctl(0)
	} else {
		lba |= uint64(p.inb(regDevice)&deviceHeadMask) << 24
	}
	return lba
}

func TestHostileAddresses(t *testing.T) {
	tests := []struct {
		name    string
		cmd     byte
		lba     uint64
		count   uint64
		ext     bool
		wantLBA uint64
	}{
		{"count runs past the end", cmdReadSectors, 2047, 2, false, 2047},
		{"LBA at the capacity", cmdReadSectors, 2048, 1, false, 2048},
		{"the last LBA28 address", cmdWriteSectors, maxLBA28, 1, false, maxLBA28},
		{"count 0 means 256 and runs past the end", cmdReadMultiple, 1900, 0, false, 1900},
		{"LBA48 count 0 means 65536", cmdReadSectorsExt, 0, 0, true, 0},
		{"LBA48 far past the end", cmdWriteMultipleExt, 1 << 40, 1, true, 1 << 40},
		{"LBA48 at 2^48-1: no wrap", cmdReadSectorsExt, maxLBA48 - 1, 0xFFFF, true, maxLBA48 - 1},
		{"verify past the end", cmdReadVerifySectors, 2040, 9, false, 2040},
		{"verify ext past the end", cmdReadVerifySectorsExt, 2048, 1, true, 2048},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMemDisk(2048)
			p := primary(t, m)
			p.command(tt.cmd, tt.lba, tt.count, tt.ext)
			assert.True(t, p.line.high(), "the error interrupts")
			assert.Equal(t, byte(statusFailed), p.inb(regStatus), "ERR, no DRQ")
			assert.Equal(t, byte(errIDNF|errABRT), p.inb(regError))
			assert.Equal(t, tt.wantLBA, p.lbaRegs(tt.ext), "the failing address is reported")
			assert.Equal(t, uint16(0xFFFF), p.inw(), "no data moves")
			assert.Zero(t, m.reads+m.writes, "the image is not touched")
			assert.Empty(t, m.outside)
		})
	}
}

func TestCHSAddressing(t *testing.T) {
	m := newMemDisk(2048) // default translation: 2 cylinders, 16 heads, 63 sectors
	p := primary(t, m)
	chs := func(cmd byte, cyl uint16, head, sector, count byte) {
		p.outb(regCount, count)
		p.outb(regLBALow, sector)
		p.outb(regLBAMid, byte(cyl))
		p.outb(regLBAHigh, byte(cyl>>8))
		p.outb(regDevice, deviceObsolete|head)
		p.outb(regCommand, cmd)
	}
	read := func(cyl uint16, head, sector byte) (byte, byte) {
		chs(cmdReadSectors, cyl, head, sector, 1)
		st := p.inb(regStatus)
		if st&statusDRQ == 0 {
			return st, p.inb(regError)
		}
		b := p.insl(SectorSize)
		return st, b[0]
	}
	st, b := read(0, 0, 1)
	assert.Equal(t, byte(statusReady|statusDRQ), st)
	assert.Equal(t, byte(1), b, "C/H/S 0/0/1 is LBA 0")
	_, b = read(1, 15, 63)
	lba := (1*16+15)*63 + 62
	assert.Equal(t, byte(lba+1), b, "C/H/S 1/15/63 is LBA 2015")
	for _, bad := range [][3]int{{0, 0, 0}, {0, 0, 64}, {2, 0, 1}, {0xFFFF, 0, 1}} {
		st, e := read(uint16(bad[0]), byte(bad[1]), byte(bad[2]))
		assert.Equal(t, byte(statusFailed), st, "C/H/S %v", bad)
		assert.Equal(t, byte(errIDNF|errABRT), e, "C/H/S %v", bad)
	}

	// INITIALIZE DEVICE PARAMETERS: 4 heads, 17 sectors per track.
	p.outb(regCount, 17)
	p.outb(regDevice, deviceObsolete|3)
	p.outb(regCommand, cmdInitDeviceParams)
	assert.Equal(t, byte(statusReady), p.inb(regStatus))
	_, b = read(2, 1, 5)
	lba = (2*4+1)*17 + 4
	assert.Equal(t, byte(lba+1), b, "C/H/S 2/1/5 through the new translation is LBA 157")
	st, _ = read(0, 4, 1)
	assert.Equal(t, byte(statusFailed), st, "head 4 of 4")
	p.outb(regCount, 0)
	p.outb(regCommand, cmdInitDeviceParams)
	assert.Equal(t, byte(statusFailed), p.inb(regStatus), "zero sectors per track is refused")
	_, b = read(2, 1, 5)
	assert.Equal(t, byte(158), b, "the translation is unchanged")

	id := identifyData(p)
	assert.Equal(t, []uint16{2048 / 68, 4, 17}, id[idCurCylinders:idCurCylinders+3], "words 54-56 report the current translation")
	assert.Empty(t, m.outside)
}

// identifyData runs IDENTIFY DEVICE on the selected drive.
func identifyData(p port) []uint16 {
	p.outb(regCommand, cmdIdentifyDevice)
	p.inb(regStatus)
	raw := p.insl(SectorSize)
	w := make([]uint16, identifyWords)
	for i := range w {
		w[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	return w
}

func TestReadOnlyDiskAbortsWrites(t *testing.T) {
	m := newMemDisk(64)
	m.ro = true
	p := primary(t, m)
	for _, cmd := range []byte{cmdWriteSectors, cmdWriteSectorsExt, cmdWriteMultiple, cmdWriteMultipleExt} {
		p.command(cmd, 3, 1, cmd == cmdWriteSectorsExt || cmd == cmdWriteMultipleExt)
		assert.Equal(t, byte(statusFailed), p.inb(regStatus), "command %#x", cmd)
		assert.Equal(t, byte(errABRT), p.inb(regError))
		p.outsl(sectorOf(0x77)) // a guest that pushes data anyway
	}
	assert.Zero(t, m.writes)
	assert.Empty(t, m.outside)
	assert.Equal(t, sectorOf(4), m.sector(3))
	p.command(cmdReadSectors, 3, 1, false)
	p.inb(regStatus)
	assert.Equal(t, sectorOf(4), p.insl(SectorSize), "reads work")
}

func TestMultipleMode(t *testing.T) {
	p := primary(t, newMemDisk(64))
	for _, n := range []byte{3, 32, 255} {
		p.outb(regCount, n)
		p.outb(regCommand, cmdSetMultipleMode)
		assert.Equal(t, byte(statusFailed), p.inb(regStatus), "SET MULTIPLE MODE %d", n)
		assert.Equal(t, byte(errABRT), p.inb(regError))
	}
	assert.Equal(t, uint64(maxMultiple), p.ch.drives[0].multiple, "unchanged")
	p.outb(regCount, 4)
	p.outb(regCommand, cmdSetMultipleMode)
	assert.Equal(t, byte(statusReady), p.inb(regStatus))
	p.command(cmdReadMultiple, 0, 6, false)
	p.inb(regStatus)
	assert.Len(t, p.insl(4*SectorSize), 4*SectorSize)
	assert.Equal(t, byte(statusReady|statusDRQ), p.inb(regStatus), "a second block of 2")
	p.insl(2 * SectorSize)
	assert.Equal(t, byte(statusReady), p.inb(regStatus))

	p.outb(regCount, 0)
	p.outb(regCommand, cmdSetMultipleMode)
	assert.Equal(t, byte(statusReady), p.inb(regStatus), "0 disables multiple mode")
	assert.Equal(t, uint16(0), identifyData(p)[idMultiple], "word 59 says so")
	p.command(cmdReadMultiple, 0, 1, false)
	assert.Equal(t, byte(statusFailed), p.inb(regStatus), "READ MULTIPLE without multiple mode")
	assert.Equal(t, byte(errABRT), p.inb(regError))
	p.command(cmdWriteMultipleExt, 0, 1, true)
	assert.Equal(t, byte(statusFailed), p.inb(regStatus))
}

func TestCommandDuringTransferAborts(t *testing.T) {
	t.Run("during a read", func(t *testing.T) {
		p := primary(t, newMemDisk(64))
		p.command(cmdReadSectors, 5, 2, false)
		p.inb(regStatus)
		p.insl(100)
		p.outb(regCommand, cmdFlushCache)
		assert.True(t, p.line.high())
		assert.Equal(t, byte(statusFailed), p.inb(regStatus), "the transfer ends, the command aborts")
		assert.Equal(t, byte(errABRT), p.inb(regError))
		assert.Equal(t, uint16(0xFFFF), p.inw(), "nothing left to read")
		p.outb(regCommand, cmdFlushCache)
		assert.Equal(t, byte(statusReady), p.inb(regStatus), "the drive works on")
	})
	t.Run("during a write: the partial block never reaches the image", func(t *testing.T) {
		m := newMemDisk(64)
		p := primary(t, m)
		p.command(cmdWriteSectors, 5, 2, false)
		p.outsl(sectorOf(0xAA))
		p.inb(regStatus)
		p.outsl(sectorOf(0xBB)[:256])
		p.outb(regCommand, cmdIdentifyDevice)
		assert.Equal(t, byte(statusFailed), p.inb(regStatus))
		p.outsl(sectorOf(0xCC)[:256])
		assert.Equal(t, sectorOf(0xAA), m.sector(5), "the whole first block was written")
		assert.Equal(t, sectorOf(7), m.sector(6), "the half block was not")
		assert.Equal(t, 1, m.writes)
	})
	t.Run("SRST during a write", func(t *testing.T) {
		m := newMemDisk(64)
		p := primary(t, m)
		p.command(cmdWriteMultiple, 5, 4, false)
		p.outsl(bytes.Repeat([]byte{0xDD}, 3*SectorSize))
		p.devctl(devctlSRST)
		p.outsl(sectorOf(0xDD))
		p.devctl(0)
		assert.Equal(t, byte(statusReady), p.inb(regStatus))
		assert.Zero(t, m.writes, "a block of 4 never completed")
		p.outsl(sectorOf(0xDD))
		assert.Zero(t, m.writes, "data after the reset goes nowhere")
	})
}

func TestDataAccessWidths(t *testing.T) {
	p := primary(t, newMemDisk(64))
	p.command(cmdReadSectors, 2, 2, false)
	p.inb(regStatus)
	for i := 0; i < SectorSize/2-1; i++ {
		require.Equal(t, uint16(0x0303), p.inw(), "word %d", i)
	}
	// A 32-bit read with one word left: the PIIX splits it into two word
	// transfers, and the second is the first word of the next block.
	b := make([]byte, 4)
	p.ch.cmd.Read(regData, b)
	assert.Equal(t, []byte{3, 3, 4, 4}, b)
	assert.Equal(t, byte(statusReady|statusDRQ), p.inb(regStatus))
	one := []byte{0}
	p.ch.cmd.Read(regData, one)
	assert.Equal(t, byte(0xFF), one[0], "a byte access moves no data")
	for i := 0; i < SectorSize/2-1; i++ {
		require.Equal(t, uint16(0x0404), p.inw(), "word %d", i)
	}
	assert.Equal(t, byte(statusReady), p.inb(regStatus), "done exactly at the end")

	// A wider access at offset 1 reads consecutive registers.
	p.outb(regCount, 0x11)
	p.outb(regLBALow, 0x22)
	b = make([]byte, 4)
	p.ch.cmd.Read(regError, b)
	assert.Equal(t, []byte{diagPassed, 0x11, 0x22, 0}, b)
}

// failingLogger captures what the device logs.
func captureLog() (*slog.Logger, *strings.Builder) {
	var b strings.Builder
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

func TestHostIOErrors(t *testing.T) {
	m := newMemDisk(64)
	log, out := captureLog()
	ctl, err := New(Config{Drives: []Backend{m}, Logger: log})
	require.NoError(t, err)
	defer ctl.Close()
	p := port{t: t, ch: ctl.Channel(0), line: &lineRecorder{}}

	m.failRead = errors.New("EIO")
	p.command(cmdReadSectorsExt, 9, 3, true)
	assert.Equal(t, byte(statusFailed), p.inb(regStatus))
	assert.Equal(t, byte(errUNC), p.inb(regError), "a host read error is an uncorrectable sector")
	assert.Equal(t, uint64(9), p.lbaRegs(true))
	m.failRead = nil

	m.failWrite = errors.New("ENOSPC")
	p.command(cmdWriteSectors, 12, 1, false)
	p.outsl(sectorOf(1))
	assert.Equal(t, byte(statusFailed), p.inb(regStatus))
	assert.Equal(t, byte(errABRT), p.inb(regError))
	assert.Equal(t, uint64(12), p.lbaRegs(false))
	m.failWrite = nil

	m.failSync = errors.New("EIO")
	p.outb(regCommand, cmdFlushCacheExt)
	assert.Equal(t, byte(statusFailed), p.inb(regStatus))
	p.outb(regCommand, cmdStandbyImmediate)
	assert.Equal(t, byte(statusFailed), p.inb(regStatus), "standby flushes first")
	m.failSync = nil
	p.outb(regCommand, cmdFlushCacheExt)
	assert.Equal(t, byte(statusReady), p.inb(regStatus))

	assert.Equal(t, 1, strings.Count(out.String(), "ide disk i/o error"), "logged once: %s", out.String())
}

func TestWriteCacheOffSyncsEveryWrite(t *testing.T) {
	m := newMemDisk(64)
	p := primary(t, m)
	p.outb(regFeature, featDisableWriteCache)
	p.outb(regCommand, cmdSetFeatures)
	assert.Equal(t, byte(statusReady), p.inb(regStatus))
	assert.Equal(t, 1, m.syncs, "disabling the cache syncs what it held")
	p.command(cmdWriteMultiple, 0, 20, false)
	p.outsl(bytes.Repeat([]byte{9}, 16*SectorSize))
	p.inb(regStatus)
	assert.Equal(t, 1, m.syncs, "not between blocks")
	p.outsl(bytes.Repeat([]byte{9}, 4*SectorSize))
	assert.Equal(t, byte(statusReady), p.inb(regStatus))
	assert.Equal(t, 2, m.syncs, "before the command completes")
	assert.Zero(t, identifyData(p)[idEnabled1]&cs1WriteCache, "IDENTIFY says the cache is off")
}

func TestRevertOnReset(t *testing.T) {
	p := primary(t, newMemDisk(64))
	setFeature := func(f byte) {
		p.outb(regFeature, f)
		p.outb(regCommand, cmdSetFeatures)
		require.Equal(t, byte(statusReady), p.inb(regStatus))
	}
	setFeature(featDisableWriteCache)
	p.outb(regCount, 2)
	p.outb(regCommand, cmdSetMultipleMode)
	p.devctl(devctlSRST)
	p.devctl(0)
	d := p.ch.drives[0]
	assert.False(t, d.writeCache, "settings survive SRST by default")
	assert.Equal(t, uint64(2), d.multiple)
	setFeature(featEnableRevert)
	p.devctl(devctlSRST)
	p.devctl(0)
	assert.True(t, d.writeCache, "after SET FEATURES CCh, SRST restores the power-on settings")
	assert.Equal(t, uint64(maxMultiple), d.multiple)
}

func TestEmptyDisk(t *testing.T) {
	m := newMemDisk(0)
	p := primary(t, m)
	id := identifyData(p)
	assert.Zero(t, lba48Capacity(id))
	p.command(cmdReadSectors, 0, 1, false)
	assert.Equal(t, byte(statusFailed), p.inb(regStatus))
	assert.Equal(t, byte(errIDNF|errABRT), p.inb(regError))
	p.outb(regCount, 1)
	p.outb(regLBALow, 1)
	p.outb(regDevice, 0)
	p.outb(regCommand, cmdReadSectors)
	assert.Equal(t, byte(statusFailed), p.inb(regStatus), "CHS addresses nothing either")
	assert.Empty(t, m.outside)
}

func TestClosedControllerIgnoresTheGuest(t *testing.T) {
	m := newMemDisk(64)
	ctl, line := newController(t, m)
	p := port{t: t, ch: ctl.Channel(0), line: line}
	p.command(cmdWriteSectors, 0, 1, false)
	require.NoError(t, ctl.Close())
	require.NoError(t, ctl.Close())
	assert.True(t, m.closed)
	p.outsl(sectorOf(5))
	assert.Zero(t, m.writes)
	assert.Equal(t, byte(0xFF), p.inb(regStatus))
	assert.Equal(t, byte(0xFF), p.altStatus())
	p.devctl(devctlSRST)
}

func TestINTxAndConfig(t *testing.T) {
	ctl, line := newController(t, newMemDisk(64))
	p := port{t: t, ch: ctl.Channel(0), line: line}
	cfg := ctl.PCIConfig()
	status := func() uint16 {
		b := make([]byte, 2)
		cfg.Read(pci.RegStatus, b)
		return binary.LittleEndian.Uint16(b)
	}
	p.outb(regCommand, cmdFlushCache)
	assert.True(t, line.high())
	assert.NotZero(t, status()&pci.StatusInterrupt, "STATUS.Interrupt follows INTA#")
	p.inb(regStatus)
	assert.False(t, line.high())
	assert.Zero(t, status()&pci.StatusInterrupt)

	cfg.Write(pci.RegCommand, []byte{byte(pci.CommandIO), byte(pci.CommandINTxDisable >> 8)})
	p.outb(regCommand, cmdFlushCache)
	assert.False(t, line.high(), "COMMAND.INTxDisable masks INTA#")
	assert.NotZero(t, status()&pci.StatusInterrupt, "but the status bit shows the request")
	assert.Nil(t, ctl.Channel(1), "no drives, no secondary channel")
	assert.Nil(t, ctl.Channel(7))
	b := make([]byte, 4)
	cfg.Read(regIDETIMPrimary, b)
	assert.Equal(t, []byte{0x00, 0x80, 0x00, 0x00}, b, "decode enabled on the primary channel only")
}

func TestNewRejects(t *testing.T) {
	_, err := New(Config{Drives: []Backend{newMemDisk(1), newMemDisk(1), newMemDisk(1), newMemDisk(1), newMemDisk(1)}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "takes 4 disks")
	assert.Contains(t, err.Error(), "if=virtio")
	_, err = New(Config{Drives: []Backend{newMemDisk(1), newMemDisk(1), nil, newMemDisk(1)}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "secondary channel: a slave disk needs a master")

	ctl, err := New(Config{Drives: []Backend{nil, nil, newMemDisk(8)}})
	require.NoError(t, err, "the secondary channel alone")
	assert.Nil(t, ctl.Channel(0))
	assert.NotNil(t, ctl.Channel(1))
}
