package i8042

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices"
)

type rig struct {
	c      *Controller
	data   devices.Device
	cmd    devices.Device
	resets int
	kbd    []bool
	aux    []bool
}

func newRig() *rig {
	r := &rig{}
	r.c = New(Config{
		Reset:  func() { r.resets++ },
		KbdIRQ: devices.InterruptFunc(func(high bool) { r.kbd = append(r.kbd, high) }),
		AuxIRQ: devices.InterruptFunc(func(high bool) { r.aux = append(r.aux, high) }),
	})
	r.data, r.cmd = r.c.DataPort(), r.c.CommandPort()
	return r
}

func (r *rig) command(v byte)   { r.cmd.Write(0, []byte{v}) }
func (r *rig) writeData(v byte) { r.data.Write(0, []byte{v}) }
func (r *rig) status() byte     { b := []byte{0}; r.cmd.Read(0, b); return b[0] }
func (r *rig) readData() byte   { b := []byte{0}; r.data.Read(0, b); return b[0] }

type step struct {
	op   string // "cmd", "data" (write), "rd" (read data), "st" (read status)
	val  byte
	want byte
}

func hex(b byte) string { return fmt.Sprintf("%#02x", b) }

func TestCommands(t *testing.T) {
	const idle = stUnlocked | stSYS
	tests := []struct {
		name   string
		steps  []step
		resets int
	}{
		{"initial status", []step{{op: "st", want: idle}}, 0},
		{"self test", []step{
			{op: "cmd", val: cmdSelfTest}, {op: "st", want: idle | stCMD | stOBF},
			{op: "rd", want: replySelfTestOK}, {op: "st", want: idle | stCMD},
		}, 0},
		{"read and write the command byte", []step{
			{op: "cmd", val: cmdReadRAM}, {op: "rd", want: ctrDefault},
			{op: "cmd", val: cmdWriteRAM}, {op: "data", val: ctrXlate | ctrKbdDis},
			{op: "st", want: stUnlocked}, // SYS cleared with the CTR bit, last write was data
			{op: "cmd", val: cmdReadRAM}, {op: "rd", want: ctrXlate | ctrKbdDis},
		}, 0},
		{"controller RAM beyond the CTR", []step{
			{op: "cmd", val: cmdWriteRAM + 5}, {op: "data", val: 0x42},
			{op: "cmd", val: cmdReadRAM + 5}, {op: "rd", want: 0x42},
		}, 0},
		{"port disable bits", []step{
			{op: "cmd", val: cmdAuxDisable}, {op: "cmd", val: cmdKbdDisable},
			{op: "cmd", val: cmdReadRAM}, {op: "rd", want: ctrDefault | ctrAuxDis | ctrKbdDis},
			{op: "cmd", val: cmdAuxEnable}, {op: "cmd", val: cmdKbdEnable},
			{op: "cmd", val: cmdReadRAM}, {op: "rd", want: ctrDefault},
		}, 0},
		{"interface tests pass", []step{
			{op: "cmd", val: cmdKbdTest}, {op: "rd", want: replyInterfaceOK},
			{op: "cmd", val: cmdAuxTest}, {op: "rd", want: replyInterfaceOK},
		}, 0},
		{"AUX loop echoes as AUX data", []step{
			{op: "cmd", val: cmdWriteAuxBuf}, {op: "data", val: 0x5a},
			{op: "st", want: idle | stOBF | stAuxData}, {op: "rd", want: 0x5a},
		}, 0},
		{"keyboard buffer write echoes as keyboard data", []step{
			{op: "cmd", val: cmdWriteKbdBuf}, {op: "data", val: 0x1c},
			{op: "st", want: idle | stOBF}, {op: "rd", want: 0x1c},
		}, 0},
		{"nobody on the keyboard port", []step{
			{op: "data", val: 0xf2}, {op: "st", want: idle | stOBF | stTimeout},
			{op: "rd", want: replyResend}, {op: "st", want: idle},
		}, 0},
		{"nobody on the AUX port", []step{
			{op: "cmd", val: cmdWriteAux}, {op: "data", val: 0xf2},
			{op: "st", want: idle | stOBF | stAuxData | stTimeout}, {op: "rd", want: replyResend},
		}, 0},
		{"output and input ports", []step{
			{op: "cmd", val: cmdReadOutput}, {op: "rd", want: outDefault},
			{op: "cmd", val: cmdReadInput}, {op: "rd", want: inDefault},
			{op: "cmd", val: cmdWriteOutput}, {op: "data", val: outReset},
			{op: "cmd", val: cmdReadOutput}, {op: "rd", want: outReset},
		}, 0},
		{"empty buffer rereads the last byte", []step{
			{op: "cmd", val: cmdSelfTest}, {op: "rd", want: replySelfTestOK}, {op: "rd", want: replySelfTestOK},
		}, 0},
		{"unknown command is ignored", []step{{op: "cmd", val: 0xc8}, {op: "st", want: idle | stCMD}}, 0},
		{"a command cancels a pending parameter", []step{
			{op: "cmd", val: cmdWriteRAM}, {op: "cmd", val: cmdKbdTest}, {op: "rd", want: replyInterfaceOK},
			{op: "data", val: 0xed}, {op: "rd", want: replyResend}, // went to the keyboard, not the CTR
			{op: "cmd", val: cmdReadRAM}, {op: "rd", want: ctrDefault},
		}, 0},
		{"pulse reset", []step{{op: "cmd", val: cmdPulseReset}}, 1},
		{"pulse without the reset line", []step{{op: "cmd", val: 0xff}}, 0},
		{"output port reset bit", []step{{op: "cmd", val: cmdWriteOutput}, {op: "data", val: outA20}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig()
			for i, st := range tt.steps {
				switch st.op {
				case "cmd":
					r.command(st.val)
				case "data":
					r.writeData(st.val)
				case "rd":
					assert.Equal(t, hex(st.want), hex(r.readData()), "step %d: data port", i)
				case "st":
					assert.Equal(t, hex(st.want), hex(r.status()), "step %d: status", i)
				default:
					t.Fatalf("unknown op %q", st.op)
				}
			}
			assert.Equal(t, tt.resets, r.resets)
		})
	}
}

func TestInterrupts(t *testing.T) {
	r := newRig()
	r.command(cmdSelfTest)
	r.readData()
	r.command(cmdWriteAuxBuf)
	r.writeData(0xa5)
	r.readData()
	assert.Equal(t, []bool{true, false}, r.kbd, "IRQ 1 follows keyboard bytes")
	assert.Equal(t, []bool{true, false}, r.aux, "IRQ 12 follows AUX bytes")

	// With interrupts disabled in the CTR, nothing is raised.
	r = newRig()
	r.command(cmdWriteRAM)
	r.writeData(ctrSys)
	r.command(cmdSelfTest)
	r.command(cmdWriteAuxBuf)
	r.writeData(0xa5)
	assert.Empty(t, r.kbd)
	assert.Empty(t, r.aux)
	// Enabling them with bytes waiting raises the line for the head byte.
	r.command(cmdWriteRAM)
	r.writeData(ctrSys | ctrKbdInt | ctrAuxInt)
	assert.Equal(t, []bool{true}, r.kbd)
	assert.Equal(t, hex(replySelfTestOK), hex(r.readData()))
	assert.Equal(t, []bool{true, false}, r.kbd)
	assert.Equal(t, []bool{true}, r.aux)
}

func TestQueueIsBounded(t *testing.T) {
	r := newRig()
	for i := 0; i < 3*queueCap; i++ {
		r.command(cmdWriteKbdBuf)
		r.writeData(byte(i))
	}
	for i := 0; i < queueCap; i++ {
		require.Equal(t, hex(byte(i)), hex(r.readData()))
	}
	assert.Zero(t, r.status()&stOBF)
}

func TestOddAccesses(t *testing.T) {
	r := newRig()
	r.command(cmdSelfTest)
	wide := make([]byte, 2)
	r.data.Read(0, wide)
	assert.Equal(t, []byte{replySelfTestOK, 0xff}, wide)
	r.data.Read(1, wide)
	assert.Equal(t, []byte{0xff, 0xff}, wide)
	r.cmd.Write(1, []byte{cmdPulseReset}) // not the command port: ignored
	r.data.Write(0, nil)
	r.cmd.Read(0, nil)
	assert.Zero(t, r.resets)
	assert.Equal(t, "i8042-data", r.data.(devices.Named).Name())
	assert.Equal(t, "i8042-command", r.cmd.(devices.Named).Name())
}

// TestLinuxProbe replays the order of Linux's i8042 probe: flush, self
// test, CTR read/write, the MUX and AUX loopback checks, the AUX toggle
// check, then a keyboard command. Every reply must be there at once.
func TestLinuxProbe(t *testing.T) {
	r := newRig()
	// i8042_command: every expected reply must already be waiting.
	command := func(cmd byte, params []byte, replies int) []byte {
		t.Helper()
		r.command(cmd)
		for _, p := range params {
			r.writeData(p)
		}
		var out []byte
		for i := 0; i < replies; i++ {
			st := r.status()
			require.NotZero(t, st&stOBF, "command %#x: reply %d missing (Linux would wait 500 ms)", cmd, i)
			if cmd == cmdWriteAuxBuf {
				require.NotZero(t, st&stAuxData, "AUX loop reply must be AUX data")
			}
			out = append(out, r.readData())
		}
		return out
	}
	flushed := 0
	for r.status()&stOBF != 0 && flushed < 16 {
		r.readData()
		flushed++
	}
	require.Zero(t, flushed)
	require.NotEqual(t, byte(0xff), r.status(), "a status of 0xff means no controller")
	assert.Equal(t, []byte{replySelfTestOK}, command(cmdSelfTest, nil, 1))
	ctr := command(cmdReadRAM, nil, 1)[0]
	ctr = ctr&^ctrKbdInt | ctrKbdDis
	command(cmdWriteRAM, []byte{ctr}, 0)
	// MUX detection: the third loop byte coming back unchanged means no MUX.
	assert.Equal(t, []byte{0xf0}, command(cmdWriteAuxBuf, []byte{0xf0}, 1))
	assert.Equal(t, []byte{0x56}, command(cmdWriteAuxBuf, []byte{0x56}, 1))
	assert.Equal(t, []byte{0xa4}, command(cmdWriteAuxBuf, []byte{0xa4}, 1), "no active multiplexer")
	// AUX check.
	assert.Equal(t, []byte{0x5a}, command(cmdWriteAuxBuf, []byte{0x5a}, 1))
	command(cmdAuxDisable, nil, 0)
	assert.NotZero(t, command(cmdReadRAM, nil, 1)[0]&ctrAuxDis)
	command(cmdAuxEnable, nil, 0)
	assert.Zero(t, command(cmdReadRAM, nil, 1)[0]&ctrAuxDis)
	// The keyboard's GET ID gets a timed-out NAK right away.
	r.writeData(0xf2)
	st := r.status()
	assert.Equal(t, byte(stOBF|stTimeout), st&(stOBF|stTimeout|stAuxData))
	assert.Equal(t, hex(replyResend), hex(r.readData()))
}
