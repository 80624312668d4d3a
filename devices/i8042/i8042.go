package i8042

import (
	"sync"

	"github.com/gonest/gonest/devices"
)

// PortSize is the size of each of the two ports; the board maps DataPort at
// 0x60 and CommandPort at 0x64 and leaves 0x61-0x63 to others (0x61 is the
// PC speaker port, emulated by KVM's in-kernel PIT).
const PortSize = 1

// Status register (read from the command port).
const (
	stOBF      = 1 << 0 // output buffer full: a byte waits at the data port
	stIBF      = 1 << 1 // input buffer full: never, commands complete at once
	stSYS      = 1 << 2 // system flag: self test passed (mirrors CTR bit 2)
	stCMD      = 1 << 3 // the last write went to the command port
	stUnlocked = 1 << 4 // keyboard not inhibited by the key lock
	stAuxData  = 1 << 5 // the byte in the output buffer came from the AUX port
	stTimeout  = 1 << 6 // the device did not answer: nothing is attached
	stParity   = 1 << 7 // parity error; never produced here
)

// Controller command byte (CTR), read with 0x20 and written with 0x60.
const (
	ctrKbdInt     = 1 << 0 // raise the keyboard interrupt (IRQ 1) on output
	ctrAuxInt     = 1 << 1 // raise the AUX interrupt (IRQ 12) on output
	ctrSys        = 1 << 2 // system flag
	ctrIgnKeylock = 1 << 3 // ignore the key lock
	ctrKbdDis     = 1 << 4 // keyboard interface disabled
	ctrAuxDis     = 1 << 5 // AUX interface disabled
	ctrXlate      = 1 << 6 // translate keyboard scan codes to set 1
	// ctrDefault is what firmware leaves: both ports enabled with
	// interrupts, translation on, self test passed.
	ctrDefault = ctrKbdInt | ctrAuxInt | ctrSys | ctrXlate
)

// Controller commands (written to the command port).
const (
	cmdReadRAM     = 0x20 // 0x20-0x3f: read controller RAM byte n (0x20 is the CTR)
	cmdWriteRAM    = 0x60 // 0x60-0x7f: write controller RAM byte n; the byte follows on the data port
	cmdAuxDisable  = 0xa7 // set CTR.AUXDIS
	cmdAuxEnable   = 0xa8 // clear CTR.AUXDIS
	cmdAuxTest     = 0xa9 // test the AUX interface lines
	cmdSelfTest    = 0xaa // controller self test
	cmdKbdTest     = 0xab // test the keyboard interface lines
	cmdKbdDisable  = 0xad // set CTR.KBDDIS
	cmdKbdEnable   = 0xae // clear CTR.KBDDIS
	cmdReadInput   = 0xc0 // read the input port
	cmdReadOutput  = 0xd0 // read the output port
	cmdWriteOutput = 0xd1 // write the output port; the byte follows
	cmdWriteKbdBuf = 0xd2 // put the next data byte in the output buffer as keyboard data
	cmdWriteAuxBuf = 0xd3 // put the next data byte in the output buffer as AUX data (Linux's AUX loop test)
	cmdWriteAux    = 0xd4 // send the next data byte to the AUX device
	cmdPulseBase   = 0xf0 // 0xf0-0xff: pulse output lines whose bit is 0 in the low nibble
	cmdPulseReset  = 0xfe // pulse the reset line: reboot
)

// Replies.
const (
	replySelfTestOK  = 0x55 // self test passed
	replyInterfaceOK = 0x00 // interface test: no error
	replyResend      = 0xfe // what Linux's libps2 reads as NAK; with stTimeout: nobody answered
)

// Output port bits (read with 0xd0, written with 0xd1).
const (
	outReset   = 1 << 0 // system reset line, active low: writing 0 resets
	outA20     = 1 << 1 // A20 gate (recorded; KVM guests have A20 always on)
	outDefault = outReset | outA20
)

// Input port: keyboard not inhibited (bit 7).
const inDefault = 0x80

// queueCap bounds the output queue; a guest that stuffs more with 0xd2 or
// 0xd3 without reading loses the excess, as on a one-byte real buffer.
const queueCap = 16

// Config is what the board gives the controller.
type Config struct {
	// Name appears in bus statistics; "i8042" when empty.
	Name string
	// Reset is called when the guest pulses the reset line (command 0xfe,
	// Linux's reboot=k) or clears it through the output port. It runs on
	// the vCPU thread, after the controller's lock is released.
	Reset func()
	// KbdIRQ (IRQ 1) and AuxIRQ (IRQ 12) carry the output-buffer-full
	// interrupts; nil leaves the guest to poll.
	KbdIRQ devices.InterruptLine
	AuxIRQ devices.InterruptLine
}

type outByte struct {
	b       byte
	aux     bool
	timeout bool
}

// Controller is an i8042 with nothing plugged into either port.
type Controller struct {
	name   string
	reset  func()
	kbdIRQ devices.InterruptLine
	auxIRQ devices.InterruptLine

	mu       sync.Mutex
	ram      [32]byte // ram[0] is the CTR
	out      []outByte
	last     byte // what the data port reads with an empty buffer
	pending  byte // command waiting for its data byte, or 0
	cmdLast  bool // stCMD
	outPort  byte
	kbdLevel bool
	auxLevel bool
}

// New returns a controller in the state firmware leaves it.
func New(cfg Config) *Controller {
	c := &Controller{name: cfg.Name, reset: cfg.Reset, kbdIRQ: cfg.KbdIRQ, auxIRQ: cfg.AuxIRQ}
	if c.name == "" {
		c.name = "i8042"
	}
	c.ram[0] = ctrDefault
	c.outPort = outDefault
	return c
}

// DataPort is the device for port 0x60.
func (c *Controller) DataPort() devices.Device {
	return port{name: c.name + "-data", read: c.readData, write: c.writeData}
}

// CommandPort is the device for port 0x64: status on read, commands on write.
func (c *Controller) CommandPort() devices.Device {
	return port{name: c.name + "-command", read: c.status, write: c.command}
}

// port is one of the controller's two one-byte ports. Only a byte access
// at offset 0 reaches the controller; the other bytes of a wider read
// are filled, and other writes are dropped.
type port struct {
	name  string
	read  func() byte
	write func(byte)
}

func (p port) Name() string { return p.name }

func (p port) Read(offset uint64, data []byte) {
	if len(data) == 0 {
		return
	}
	fill(data[1:])
	if offset != 0 {
		data[0] = 0xff
		return
	}
	data[0] = p.read()
}

func (p port) Write(offset uint64, data []byte) {
	if len(data) == 0 || offset != 0 {
		return
	}
	p.write(data[0])
}

func fill(b []byte) {
	for i := range b {
		b[i] = 0xff
	}
}

func (c *Controller) status() byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := byte(stUnlocked)
	if c.ram[0]&ctrSys != 0 {
		v |= stSYS
	}
	if c.cmdLast {
		v |= stCMD
	}
	if len(c.out) > 0 {
		v |= stOBF
		if c.out[0].aux {
			v |= stAuxData
		}
		if c.out[0].timeout {
			v |= stTimeout
		}
	}
	return v
}

func (c *Controller) readData() byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.out) > 0 {
		c.last = c.out[0].b
		c.out = c.out[1:]
		c.updateIRQ()
	}
	return c.last
}

func (c *Controller) push(b byte, aux, timeout bool) {
	if len(c.out) < queueCap {
		c.out = append(c.out, outByte{b: b, aux: aux, timeout: timeout})
	}
}

func (c *Controller) command(cmd byte) {
	doReset := false
	c.mu.Lock()
	c.cmdLast = true
	c.pending = 0
	switch {
	case cmd >= cmdReadRAM && cmd < cmdReadRAM+32:
		c.push(c.ram[cmd-cmdReadRAM], false, false)
	case cmd >= cmdWriteRAM && cmd < cmdWriteRAM+32:
		c.pending = cmd
	case cmd == cmdAuxDisable:
		c.ram[0] |= ctrAuxDis
	case cmd == cmdAuxEnable:
		c.ram[0] &^= ctrAuxDis
	case cmd == cmdAuxTest, cmd == cmdKbdTest:
		c.push(replyInterfaceOK, false, false)
	case cmd == cmdSelfTest:
		c.ram[0] |= ctrSys
		c.push(replySelfTestOK, false, false)
	case cmd == cmdKbdDisable:
		c.ram[0] |= ctrKbdDis
	case cmd == cmdKbdEnable:
		c.ram[0] &^= ctrKbdDis
	case cmd == cmdReadInput:
		c.push(inDefault, false, false)
	case cmd == cmdReadOutput:
		c.push(c.outPort, false, false)
	case cmd == cmdWriteOutput, cmd == cmdWriteKbdBuf, cmd == cmdWriteAuxBuf, cmd == cmdWriteAux:
		c.pending = cmd
	case cmd >= cmdPulseBase:
		// Bit 0 clear in the low nibble pulses the reset line.
		doReset = cmd&outReset == 0
	default:
		// Unknown and vendor commands are ignored, as an 8042 does.
	}
	c.updateIRQ()
	c.mu.Unlock()
	if doReset && c.reset != nil {
		c.reset()
	}
}

func (c *Controller) writeData(v byte) {
	doReset := false
	c.mu.Lock()
	c.cmdLast = false
	cmd := c.pending
	c.pending = 0
	switch {
	case cmd >= cmdWriteRAM && cmd < cmdWriteRAM+32:
		c.ram[cmd-cmdWriteRAM] = v
	case cmd == cmdWriteOutput:
		c.outPort = v
		doReset = v&outReset == 0
	case cmd == cmdWriteKbdBuf:
		c.push(v, false, false)
	case cmd == cmdWriteAuxBuf:
		c.push(v, true, false)
	case cmd == cmdWriteAux:
		// No mouse: the controller times out and hands back "resend".
		c.push(replyResend, true, true)
	default:
		// A byte for the keyboard. None is attached; writing to it
		// re-enables the interface, then the transfer times out.
		c.ram[0] &^= ctrKbdDis
		c.push(replyResend, false, true)
	}
	c.updateIRQ()
	c.mu.Unlock()
	if doReset && c.reset != nil {
		c.reset()
	}
}

// updateIRQ drives IRQ 1 while keyboard data waits and IRQ 12 while AUX
// data waits, each if enabled in the CTR. Lines are only touched on change.
func (c *Controller) updateIRQ() {
	kbd, aux := false, false
	if len(c.out) > 0 {
		if c.out[0].aux {
			aux = c.ram[0]&ctrAuxInt != 0
		} else {
			kbd = c.ram[0]&ctrKbdInt != 0
		}
	}
	if kbd != c.kbdLevel {
		c.kbdLevel = kbd
		if c.kbdIRQ != nil {
			c.kbdIRQ.SetLevel(kbd)
		}
	}
	if aux != c.auxLevel {
		c.auxLevel = aux
		if c.auxIRQ != nil {
			c.auxIRQ.SetLevel(aux)
		}
	}
}
