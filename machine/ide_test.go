package machine

import (
	"bytes"
	"log/slog"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/devices/disk"
	"github.com/gonest/gonest/internal/syncbuf"
	"github.com/gonest/gonest/internal/tinyelf"
)

// A tiny guest is its own ATA driver here, on the IDE controller gonest
// plugs in for -disk ...,if=ide: it enables I/O decoding through PCI
// configuration space, takes the primary channel's command block from
// BAR 0, and moves sectors by programmed I/O (rep insd/outsd on the data
// port, as Linux's ata_piix does), printing the status (and error)
// register after each step. This is the whole path Linux uses in the lab
// (config space, the I/O BAR on the port bus, string I/O exits, the ATA
// state machine, the image) on any /dev/kvm.

// Guest-physical buffer of the tiny ATA driver: one sector.
const ideBuf = 0x200000

// ataDriver assembles the guest.
type ataDriver struct{ a tinyelf.Asm }

// probe enables I/O decoding of the IDE function in slot 1 and loads the
// primary command block's base (BAR 0) into RBX.
func (d *ataDriver) probe() {
	a := &d.a
	a.MovDX(boot.PCIConfigPort).MovEAX(0x8000_0804).OutL() // bus 0, device 1: COMMAND
	a.MovDX(boot.PCIConfigPort + 4).MovEAX(0x1).OutL()     // I/O space
	a.MovDX(boot.PCIConfigPort).MovEAX(0x8000_0810).OutL() // BAR 0
	a.MovDX(boot.PCIConfigPort + 4).InL()
	a.AndEAX(0xffff_fffc).MovEBXEAX()
}

func (d *ataDriver) out(reg uint32, v byte) { d.a.LeaDXRBX(reg).MovAL(v).OutB() }

// report prints the status register (which also clears the interrupt).
func (d *ataDriver) report() {
	d.a.LeaDXRBX(7).InB().MovDX(boot.COM1Port).OutB()
}

// reportError prints the error register.
func (d *ataDriver) reportError() {
	d.a.LeaDXRBX(1).InB().MovDX(boot.COM1Port).OutB()
}

// command writes an LBA28 taskfile for device 0 and the command.
func (d *ataDriver) command(cmd byte, lba uint32, count byte) {
	d.out(2, count)
	d.out(3, byte(lba))
	d.out(4, byte(lba>>8))
	d.out(5, byte(lba>>16))
	d.out(6, 0xE0|byte(lba>>24)&0x0F) // LBA, device 0
	d.out(7, cmd)
}

// readSector moves one sector from the data port to ideBuf.
func (d *ataDriver) readSector() {
	d.a.MovRDI(ideBuf).MovRCX(128).LeaDXRBX(0).RepInsL()
}

// writeSector moves one sector from ideBuf to the data port.
func (d *ataDriver) writeSector() {
	d.a.MovRSI(ideBuf).MovRCX(128).LeaDXRBX(0).RepOutsL()
}

// printBuf prints the byte at ideBuf+off.
func (d *ataDriver) printBuf(off uint32) {
	d.a.MovDX(boot.COM1Port).LoadAL(ideBuf + off).OutB()
}

// runATADriver runs the driver program below against a 64 KiB disk whose
// sector s is filled with byte s+1, attached with if=ide (and ro), and
// returns the console bytes and the disk's bytes before and after.
func runATADriver(t *testing.T, ro bool) (string, []byte, []byte) {
	img := t.TempDir() + "/ide.img"
	before := make([]byte, 64<<10)
	for s := 0; s < len(before)/disk.SectorSize; s++ {
		copy(before[s*disk.SectorSize:], bytes.Repeat([]byte{byte(s + 1)}, disk.SectorSize))
	}
	require.NoError(t, os.WriteFile(img, before, 0o644))

	var d ataDriver
	d.probe()
	d.command(0xEC, 0, 0) // IDENTIFY DEVICE
	d.report()            // 58: DRDY DSC DRQ
	d.readSector()
	d.printBuf(2*10 + 1) // the serial's first character, "i" of ide.img (ATA strings put it in the high byte)
	d.report()           // 50: done
	d.a.MovRDI(ideBuf).MovAL(0x5a).MovRCX(disk.SectorSize).RepStosB()
	d.command(0x30, 5, 1) // WRITE SECTORS 5
	d.report()            // 58: DRQ for the data
	d.writeSector()
	d.report()            // 50, or 41 (DRDY ERR) on a read-only disk
	d.reportError()       // 04 (ABRT) when it failed
	d.command(0xE7, 0, 0) // FLUSH CACHE
	d.report()
	d.command(0x20, 5, 1) // READ SECTORS 5
	d.report()
	d.readSector()
	d.printBuf(0)           // 5a, or 06 when the write was refused
	d.command(0x20, 128, 1) // READ SECTORS 128: past the end (128 sectors)
	d.report()              // 41: DRDY ERR
	d.reportError()         // 14: IDNF ABRT
	d.a.Exit(boot.ExitPort, 0).Hlt()

	o, console, _ := runTiny(t, d.a.Bytes(), func(c *Config) {
		c.Disks = []DiskSpec{{Path: img, ReadOnly: ro, Interface: disk.IDE}}
	})
	require.Equal(t, 0, o.Code, "%v; console %q", o, console)
	// The stop path closed the image: its exclusive lock is free again.
	im, err := disk.Open(disk.Spec{Path: img}, nil)
	require.NoError(t, err, "Run's end syncs and closes the IDE disks")
	require.NoError(t, im.Close())
	after, err := os.ReadFile(img)
	require.NoError(t, err)
	return console, before, after
}

// The board: virtio disks take the slots from 1 in -disk order, the IDE
// controller the slot after them, whatever the order of the flags.
func TestIDEControllerAfterTheVirtioDisks(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.img", "b.img", "c.img"} {
		require.NoError(t, os.WriteFile(dir+"/"+n, make([]byte, 64<<10), 0o644))
	}
	var a tinyelf.Asm
	for slot := uint32(1); slot <= 3; slot++ {
		a.MovDX(boot.PCIConfigPort).MovEAX(0x8000_0000 | slot<<11).OutL() // vendor and device
		a.MovDX(boot.PCIConfigPort + 4).InL().ShrEAX8().ShrEAX8()         // the device ID's low byte
		a.MovDX(boot.COM1Port).OutB()
	}
	a.Exit(boot.ExitPort, 0).Hlt()
	log := new(syncbuf.Buffer)
	o, console, _ := runTiny(t, a.Bytes(), func(c *Config) {
		c.Disks = []DiskSpec{
			{Path: dir + "/a.img", Interface: disk.IDE},
			{Path: dir + "/b.img"},
			{Path: dir + "/c.img", Interface: disk.IDE},
		}
		c.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	require.Equal(t, 0, o.Code, "%v", o)
	assert.Equal(t, "\x42\x10\xff", console, "slot 1 virtio-blk (1042), slot 2 the PIIX3 IDE (7010), slot 3 empty")
	for _, want := range []string{
		`msg=disk path=` + dir + `/b.img read_only=false sectors=128 pci_slot=1`,
		`msg=disk path=` + dir + `/a.img read_only=false interface=ide place="primary master" pci_slot=2`,
		`msg=disk path=` + dir + `/c.img read_only=false interface=ide place="primary slave" pci_slot=2`,
	} {
		assert.Contains(t, log.String(), want)
	}
}

func TestTinyATADriverReadsWritesAndFlushes(t *testing.T) {
	console, before, after := runATADriver(t, false)
	assert.Equal(t, ""+
		"\x58i\x50"+ // IDENTIFY: DRQ, serial "ide.img", done
		"\x58\x50\x01"+ // WRITE SECTORS: DRQ, done (the error register holds the diagnostic code)
		"\x50"+ // FLUSH CACHE
		"\x58\x5a"+ // READ SECTORS: the write reads back
		"\x41\x14", // past the end: DRDY ERR, IDNF ABRT
		console)
	want := append([]byte(nil), before...)
	copy(want[5*disk.SectorSize:6*disk.SectorSize], bytes.Repeat([]byte{0x5a}, disk.SectorSize))
	assert.True(t, bytes.Equal(want, after), "the file holds exactly the one sector written")
}

// A read-only IDE disk: the guest's write fails with ABRT, and the host
// file is byte for byte what it was.
func TestTinyATADriverReadOnlyDiskAbortsWrites(t *testing.T) {
	console, before, after := runATADriver(t, true)
	assert.Equal(t, ""+
		"\x58i\x50"+ // IDENTIFY
		"\x41\x41\x04"+ // WRITE SECTORS: refused at once (DRDY ERR, no DRQ), the data goes nowhere, ABRT
		"\x50"+ // FLUSH CACHE: nothing to flush
		"\x58\x06"+ // READ SECTORS: sector 5 still holds 6s
		"\x41\x14", // past the end
		console)
	assert.True(t, bytes.Equal(before, after), "a read-only disk's file is unchanged")
}
