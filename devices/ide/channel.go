package ide

import (
	"encoding/binary"
	"sync"
)

// Channel is one ATA channel: a command block and a control block shared
// by device 0 and, when present, device 1. Register writes reach both
// devices; reads come from the one the DEV bit selects. The controller
// puts the two blocks behind the channel's BARs.
type Channel struct {
	name string
	mu   sync.Mutex
	// drives[1] may be nil (no slave); drives[0] never is.
	drives [DrivesPerChannel]*drive
	sel    int  // the selected device: DEV of the last device register write
	devctl byte // the device control register (nIEN, SRST, HOB)
	line   bool // INTRQ as last driven
	closed bool // the controller is closed: the disks are gone
	// setLine drives INTRQ; the controller combines the channels into
	// INTA#. It is called with mu held.
	setLine func(bool)
	cmd     commandBlock
	ctl     controlBlock
}

func newChannel(name string, drives [DrivesPerChannel]*drive, setLine func(bool)) *Channel {
	c := &Channel{name: name, drives: drives, setLine: setLine}
	c.cmd = commandBlock{c}
	c.ctl = controlBlock{c}
	return c
}

// commandBlock implements devices.Device for the command block (data,
// taskfile, status and command), CommandBlockSize ports.
type commandBlock struct{ c *Channel }

// Name implements devices.Named.
func (b *commandBlock) Name() string { return b.c.name + " command block" }

// Read implements devices.Device. A 2- or 4-byte access at offset 0 moves
// one or two data words (the PIIX splits a 32-bit access in two); any
// other access reads consecutive 8-bit registers.
func (b *commandBlock) Read(offset uint64, data []byte) {
	c := b.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		fill(data, 0xFF)
		return
	}
	defer c.updateLine()
	if offset == regData && (len(data) == 2 || len(data) == 4) {
		for i := 0; i < len(data); i += 2 {
			binary.LittleEndian.PutUint16(data[i:], c.readData())
		}
		return
	}
	for i := range data {
		data[i] = c.readReg(offset + uint64(i))
	}
}

// Write implements devices.Device, as Read does.
func (b *commandBlock) Write(offset uint64, data []byte) {
	c := b.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	defer c.updateLine()
	if offset == regData && (len(data) == 2 || len(data) == 4) {
		for i := 0; i < len(data); i += 2 {
			c.writeData(binary.LittleEndian.Uint16(data[i:]))
		}
		return
	}
	for i, v := range data {
		c.writeReg(offset+uint64(i), v)
	}
}

// controlBlock implements devices.Device for the control block
// (alternate status and device control at offset 2), ControlBlockSize
// ports.
type controlBlock struct{ c *Channel }

// Name implements devices.Named.
func (b *controlBlock) Name() string { return b.c.name + " control block" }

// Read implements devices.Device: alternate status at offset 2; the rest
// of the block reads 0xFF.
func (b *controlBlock) Read(offset uint64, data []byte) {
	c := b.c
	c.mu.Lock()
	defer c.mu.Unlock()
	fill(data, 0xFF)
	if c.closed {
		return
	}
	for i := range data {
		if offset+uint64(i) == regAltStatus {
			data[i] = 0
			if d := c.drives[c.sel]; d != nil {
				data[i] = d.status
			}
		}
	}
}

// Write implements devices.Device: device control at offset 2; the rest
// of the block ignores writes.
func (b *controlBlock) Write(offset uint64, data []byte) {
	c := b.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	defer c.updateLine()
	for i, v := range data {
		if offset+uint64(i) == regDevControl {
			c.writeDevControl(v)
		}
	}
}

// readData reads a data word from the selected device.
func (c *Channel) readData() uint16 {
	if d := c.drives[c.sel]; d != nil {
		return d.readData()
	}
	return 0
}

// writeData writes a data word to the selected device.
func (c *Channel) writeData(v uint16) {
	if d := c.drives[c.sel]; d != nil {
		d.writeData(v)
	}
}

// readReg reads 8-bit register off of the selected device. An absent
// device 1 reads as 0, as device 0 answers for it (what QEMU's IDE does
// too); a byte access to the data register moves no data.
func (c *Channel) readReg(off uint64) byte {
	d := c.drives[c.sel]
	switch {
	case off == regData || off >= CommandBlockSize:
		return 0xFF
	case d == nil:
		return 0
	}
	return d.readReg(off, c.devctl&devctlHOB != 0)
}

// writeReg writes 8-bit register off. Taskfile writes reach both devices;
// a command goes to the selected one (EXECUTE DEVICE DIAGNOSTIC to both).
// Any write clears HOB (ATA8-ACS §6.1.2).
func (c *Channel) writeReg(off uint64, v byte) {
	c.devctl &^= devctlHOB
	switch {
	case off == regData || off >= CommandBlockSize:
		return
	case c.devctl&devctlSRST != 0:
		return // both devices are busy resetting
	case off == regCommand:
		c.command(v)
		return
	}
	for _, d := range c.drives {
		if d != nil {
			d.writeReg(off, v)
		}
	}
	if off == regDevice {
		c.sel = int(v&deviceDEV) >> 4
	}
}

// command starts command cmd.
func (c *Channel) command(cmd byte) {
	if cmd == cmdExecDiagnostic {
		c.diagnose()
		return
	}
	if d := c.drives[c.sel]; d != nil {
		d.execute(cmd)
	}
	// A command for an absent device 1 is ignored by device 0.
}

// diagnose is EXECUTE DEVICE DIAGNOSTIC: both devices load their
// signatures and pass, device 0 is selected and interrupts (ATA8-ACS
// §7.9).
func (c *Channel) diagnose() {
	for _, d := range c.drives {
		if d != nil {
			d.pending = false
			d.signature()
			d.status = statusReady
		}
	}
	c.sel = 0
	c.drives[0].pending = true
}

// writeDevControl writes the device control register. Setting SRST
// resets both devices and holds them busy; clearing it finishes the
// reset and selects device 0.
func (c *Channel) writeDevControl(v byte) {
	old := c.devctl
	c.devctl = v & (devctlNIEN | devctlSRST | devctlHOB)
	switch {
	case v&devctlSRST != 0 && old&devctlSRST == 0:
		for _, d := range c.drives {
			if d != nil {
				d.beginReset()
			}
		}
	case v&devctlSRST == 0 && old&devctlSRST != 0:
		for _, d := range c.drives {
			if d != nil {
				d.endReset()
			}
		}
		c.sel = 0
	}
}

// updateLine drives INTRQ from the selected device's pending interrupt,
// unless nIEN masks it or a reset is in progress.
func (c *Channel) updateLine() {
	level := false
	if d := c.drives[c.sel]; d != nil && c.devctl&(devctlNIEN|devctlSRST) == 0 {
		level = d.pending
	}
	if level != c.line {
		c.line = level
		c.setLine(level)
	}
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}
