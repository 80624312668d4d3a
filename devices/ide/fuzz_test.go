package ide

import (
	"fmt"
	"testing"
)

// fuzzCommands are the opcodes op 8 picks from, so that the fuzzer
// reaches every command the drive implements, and a few it aborts.
var fuzzCommands = []byte{
	cmdReadSectors, cmdReadSectorsExt, cmdReadMultiple, cmdReadMultipleExt,
	cmdWriteSectors, cmdWriteSectorsExt, cmdWriteMultiple, cmdWriteMultipleExt,
	cmdReadVerifySectors, cmdReadVerifySectorsExt, cmdIdentifyDevice, cmdSetFeatures,
	cmdSetMultipleMode, cmdInitDeviceParams, cmdFlushCache, cmdFlushCacheExt,
	cmdExecDiagnostic, cmdStandbyImmediate, cmdIdleImmediate, cmdCheckPowerMode,
	cmdSleep, cmdNOP, cmdIdentifyPacket, cmdDeviceReset, 0xC8, 0xFF,
}

// checkInvariants verifies what must hold after any access.
func (c *Channel) checkInvariants(line *lineRecorder, disks []*memDisk) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, m := range disks {
		if len(m.outside) > 0 {
			return fmt.Errorf("drive %d: %v", i, m.outside)
		}
	}
	for unit, d := range c.drives {
		if d == nil {
			continue
		}
		switch {
		case d.status&statusBSY != 0 && c.devctl&devctlSRST == 0:
			return fmt.Errorf("drive %d busy outside SRST: status %#x", unit, d.status)
		case d.status&statusBSY != 0 && d.status&statusDRQ != 0:
			return fmt.Errorf("drive %d: BSY and DRQ: %#x", unit, d.status)
		case (d.phase != phaseIdle) != (d.status&statusDRQ != 0):
			return fmt.Errorf("drive %d: phase %d, status %#x", unit, d.phase, d.status)
		case d.pos < 0 || d.pos > d.end || d.end > len(d.buf) || d.pos%2 != 0:
			return fmt.Errorf("drive %d: buffer position %d of %d", unit, d.pos, d.end)
		case d.phase != phaseIdle && (d.end == 0 || d.end%SectorSize != 0 || d.pos == d.end):
			return fmt.Errorf("drive %d: a DRQ block of %d bytes at %d", unit, d.end, d.pos)
		case d.phase != phaseIdle && d.sectorIO && (d.left == 0 || !d.inRange(d.lba, d.left) || uint64(d.end/SectorSize) > d.left):
			return fmt.Errorf("drive %d: transfer of %d sectors at %d on %d", unit, d.left, d.lba, d.sectors)
		case d.multiple > maxMultiple:
			return fmt.Errorf("drive %d: multiple count %d", unit, d.multiple)
		}
	}
	want := false
	if d := c.drives[c.sel]; d != nil && c.devctl&(devctlNIEN|devctlSRST) == 0 {
		want = d.pending
	}
	if c.line != want {
		return fmt.Errorf("INTRQ %v, want %v", c.line, want)
	}
	line.mu.Lock()
	defer line.mu.Unlock()
	for i := 1; i < len(line.levels); i++ {
		if line.levels[i] == line.levels[i-1] {
			return fmt.Errorf("INTA# driven %v twice in a row", line.levels[i])
		}
	}
	if got := len(line.levels) > 0 && line.levels[len(line.levels)-1]; got != c.line {
		return fmt.Errorf("INTA# %v, channel INTRQ %v", got, c.line)
	}
	return nil
}

// FuzzATA drives a channel with a master and a slave (the slave read-only
// when the first byte is odd) with (op, offset, value) triples: op%10 is
// 0 a command block write, 1 a command block read, 2 a data read (16 or 32
// bits), 3 a data write, 4 a device control write, 5 a control block read,
// 6 a burst of value data words read, 7 the same written, 8 a command from
// fuzzCommands, 9 a 2- or 4-byte access at any command block offset. The
// device must never panic, never touch the images outside their sectors,
// never write the read-only one, and keep its registers consistent.
func FuzzATA(f *testing.F) {
	f.Add([]byte{0, 1, 6, 0xE0, 8, 0, 10, 6, 0, 255})                                    // IDENTIFY, read it all
	f.Add([]byte{0, 0, 2, 4, 0, 3, 90, 8, 0, 2, 7, 0, 255, 7, 0, 255, 1, 7, 0})          // WRITE MULTIPLE near the end
	f.Add([]byte{1, 0, 6, 0xF0, 8, 0, 4, 7, 0, 200, 4, 0, 4, 4, 0, 0, 1, 7, 0})          // write to the read-only slave, SRST
	f.Add([]byte{0, 0, 2, 0, 0, 3, 95, 0, 6, 0x40, 8, 0, 1, 6, 0, 255, 9, 1, 0x22})      // READ SECTORS EXT across the end
	f.Add([]byte{0, 0, 1, 3, 0, 2, 0x0C, 8, 0, 11, 4, 0, 2, 8, 0, 14, 5, 2, 0, 1, 7, 0}) // SET FEATURES PIO4, nIEN, FLUSH
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		master, slave := newMemDisk(96), newMemDisk(40)
		slave.ro = data[0]&1 != 0
		line := &lineRecorder{}
		ctl, err := New(Config{Drives: []Backend{master, slave}, INTx: line})
		if err != nil {
			t.Fatal(err)
		}
		defer ctl.Close()
		c := ctl.Channel(0)
		slaveBefore := append([]byte(nil), slave.data...)
		data = data[1:]
		for i := 0; i+2 < len(data); i += 3 {
			op, off, val := data[i]%10, uint64(data[i+1]), data[i+2]
			switch op {
			case 0:
				c.cmd.Write(off%CommandBlockSize, []byte{val})
			case 1:
				c.cmd.Read(off%CommandBlockSize, make([]byte, 1))
			case 2:
				c.cmd.Read(regData, make([]byte, 2+2*int(off&1)))
			case 3:
				c.cmd.Write(regData, []byte{val, ^val, val, val}[:2+2*int(off&1)])
			case 4:
				c.ctl.Write(regDevControl, []byte{val})
			case 5:
				c.ctl.Read(off%ControlBlockSize, make([]byte, 1))
			case 6:
				for range int(val) {
					c.cmd.Read(regData, make([]byte, 4))
				}
			case 7:
				for range int(val) {
					c.cmd.Write(regData, []byte{val, byte(off), val, byte(off)})
				}
			case 8:
				c.cmd.Write(regCommand, []byte{fuzzCommands[int(val)%len(fuzzCommands)]})
			case 9:
				n := 2 + 2*int(val&1)
				o := off % (CommandBlockSize - uint64(n) + 1)
				if val&2 == 0 {
					c.cmd.Read(o, make([]byte, n))
				} else {
					c.cmd.Write(o, []byte{val, byte(off), 0, 0}[:n])
				}
			}
			if err := c.checkInvariants(line, []*memDisk{master, slave}); err != nil {
				t.Fatalf("after triple %d (%d, %d, %#x): %v", i/3, op, off, val, err)
			}
		}
		if slave.ro && string(slave.data) != string(slaveBefore) {
			t.Fatal("the read-only disk changed")
		}
	})
}
