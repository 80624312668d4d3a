package ide

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// step is one guest access to a channel, or a check of INTRQ.
type step struct {
	op   string // "w"/"r" command block byte, "cw"/"cr" control block, "dw"/"dr" a data word, "line" INTRQ
	off  uint64
	val  uint16 // value written
	want uint16 // value read, or 1/0 for "line"
}

func w(off uint64, v byte) step     { return step{op: "w", off: off, val: uint16(v)} }
func r(off uint64, want byte) step  { return step{op: "r", off: off, want: uint16(want)} }
func cw(v byte) step                { return step{op: "cw", off: regDevControl, val: uint16(v)} }
func cr(off uint64, want byte) step { return step{op: "cr", off: off, want: uint16(want)} }
func dr(want uint16) step           { return step{op: "dr", want: want} }
func dw(v uint16) step              { return step{op: "dw", val: v} }
func line(high bool) step {
	if high {
		return step{op: "line", want: 1}
	}
	return step{op: "line"}
}

func runSteps(t *testing.T, p port, steps []step) {
	t.Helper()
	for i, st := range steps {
		switch st.op {
		case "w":
			p.outb(st.off, byte(st.val))
		case "r":
			assert.Equal(t, fmt.Sprintf("%#02x", st.want), fmt.Sprintf("%#02x", p.inb(st.off)), "step %d: read offset %d", i, st.off)
		case "cw":
			p.ch.ctl.Write(st.off, []byte{byte(st.val)})
		case "cr":
			b := []byte{0}
			p.ch.ctl.Read(st.off, b)
			assert.Equal(t, fmt.Sprintf("%#02x", st.want), fmt.Sprintf("%#02x", b[0]), "step %d: control read offset %d", i, st.off)
		case "dr":
			assert.Equal(t, fmt.Sprintf("%#04x", st.want), fmt.Sprintf("%#04x", p.inw()), "step %d: data read", i)
		case "dw":
			p.outw(st.val)
		case "line":
			assert.Equal(t, st.want == 1, p.line.high(), "step %d: INTRQ", i)
		default:
			t.Fatalf("step %d: unknown op %q", i, st.op)
		}
	}
}

func TestRegisters(t *testing.T) {
	const (
		selMaster = deviceObsolete | deviceLBA
		selSlave  = deviceObsolete | deviceLBA | deviceDEV
	)
	tests := []struct {
		name  string
		slave bool
		steps []step
	}{
		{"power-on: ready, diagnostic passed, ATA signature", false, []step{
			r(regStatus, statusReady), r(regError, diagPassed), r(regCount, 1), r(regLBALow, 1),
			r(regLBAMid, 0), r(regLBAHigh, 0), r(regDevice, 0), cr(regAltStatus, statusReady), line(false),
		}},
		{"taskfile registers read back what was written", false, []step{
			w(regCount, 0x12), w(regLBALow, 0x34), w(regLBAMid, 0x56), w(regLBAHigh, 0x78), w(regDevice, 0xE5),
			r(regCount, 0x12), r(regLBALow, 0x34), r(regLBAMid, 0x56), r(regLBAHigh, 0x78), r(regDevice, 0xE5),
			w(regFeature, 0x99), r(regError, diagPassed), // features is write-only; error reads the error register
		}},
		{"HOB reads the previous values; any command block write clears it", false, []step{
			w(regCount, 0x01), w(regCount, 0x02), w(regLBALow, 0x11), w(regLBALow, 0x22),
			w(regLBAMid, 0x33), w(regLBAMid, 0x44), w(regLBAHigh, 0x55), w(regLBAHigh, 0x66),
			cw(devctlHOB), r(regCount, 0x01), r(regLBALow, 0x11), r(regLBAMid, 0x33), r(regLBAHigh, 0x55),
			w(regFeature, 0), r(regCount, 0x02), r(regLBALow, 0x22),
		}},
		{"an absent slave reads 0 and ignores commands", false, []step{
			w(regDevice, selSlave), r(regStatus, 0), r(regCount, 0), cr(regAltStatus, 0),
			w(regCommand, cmdIdentifyDevice), line(false), dr(0),
			w(regDevice, selMaster), r(regStatus, statusReady), r(regDevice, selMaster),
		}},
		{"a present slave answers for itself", true, []step{
			w(regDevice, selSlave), r(regStatus, statusReady), r(regCount, 1),
			w(regCommand, cmdCheckPowerMode), line(true), r(regCount, powerActive), r(regStatus, statusReady), line(false),
			w(regDevice, selMaster), r(regCount, 1), // the slave's answer is its own
			w(regCount, 9), w(regDevice, selSlave), r(regCount, 9), // a host write reaches both
		}},
		{"SRST: busy while held, every register reads status, writes ignored", true, []step{
			w(regDevice, selSlave), cw(devctlSRST), r(regStatus, statusBSY), r(regCount, statusBSY), cr(regAltStatus, statusBSY),
			w(regCount, 9), w(regCommand, cmdIdentifyDevice), line(false),
			cw(0), r(regStatus, statusReady), r(regCount, 1), r(regLBALow, 1), r(regError, diagPassed), r(regDevice, 0),
			line(false), // SRST does not interrupt
		}},
		{"SRST selects device 0", true, []step{
			w(regDevice, selSlave), cw(devctlSRST), cw(0), w(regCount, 7), r(regCount, 7),
			w(regCommand, cmdCheckPowerMode), r(regStatus, statusReady), w(regDevice, selSlave), r(regCount, 7),
		}},
		{"status clears INTRQ, alternate status does not", false, []step{
			w(regCommand, cmdFlushCache), line(true), cr(regAltStatus, statusReady), line(true),
			r(regStatus, statusReady), line(false),
		}},
		{"nIEN masks INTRQ; the interrupt stays pending", false, []step{
			cw(devctlNIEN), w(regCommand, cmdFlushCache), line(false), cw(0), line(true), r(regStatus, statusReady), line(false),
		}},
		{"a new command clears a pending interrupt", false, []step{
			cw(devctlNIEN), w(regCommand, cmdFlushCache), w(regCommand, cmdIdleImmediate), cw(0), line(true),
		}},
		{"NOP aborts", false, []step{
			w(regCommand, cmdNOP), line(true), r(regError, errABRT), r(regStatus, statusFailed), line(false),
		}},
		{"an unknown command aborts, the next one clears the error", false, []step{
			w(regCommand, 0xFF), r(regStatus, statusFailed), r(regError, errABRT),
			w(regCommand, cmdFlushCache), r(regStatus, statusReady),
		}},
		{"IDENTIFY PACKET DEVICE aborts: this is an ATA device", false, []step{
			w(regCommand, cmdIdentifyPacket), r(regStatus, statusFailed), r(regError, errABRT),
		}},
		{"IDENTIFY: DRQ and an interrupt before the data", false, []step{
			w(regCommand, cmdIdentifyDevice), line(true), r(regStatus, statusReady|statusDRQ), line(false),
			dr(genConfigFixed),
		}},
		{"no DRQ: the data register reads all ones and takes nothing", false, []step{
			dr(0xFFFF), dw(0x1234), r(regStatus, statusReady), line(false),
		}},
		{"byte accesses to the data register move nothing", false, []step{
			w(regCommand, cmdIdentifyDevice), r(regData, 0xFF), w(regData, 0), dr(genConfigFixed),
		}},
		{"EXECUTE DEVICE DIAGNOSTIC: signatures, device 0 selected and interrupting", true, []step{
			w(regDevice, selSlave), w(regCount, 0x55), w(regCommand, cmdExecDiagnostic), line(true),
			r(regDevice, 0), r(regError, diagPassed), r(regCount, 1), r(regStatus, statusReady), line(false),
			w(regDevice, selSlave), r(regCount, 1), r(regLBALow, 1),
		}},
		{"CHECK POWER MODE follows standby and idle", false, []step{
			w(regCommand, cmdStandbyImmediate), w(regCommand, cmdCheckPowerMode), r(regCount, powerStandby),
			w(regCommand, cmdIdleImmediate), w(regCommand, cmdCheckPowerMode), r(regCount, powerIdle),
			w(regCommand, cmdFlushCache), w(regCommand, cmdCheckPowerMode), r(regCount, powerActive),
			w(regCommand, cmdSleep), w(regCommand, cmdCheckPowerMode), r(regCount, powerStandby),
		}},
		{"the control block's other ports read all ones", false, []step{
			cr(0, 0xFF), cr(1, 0xFF), cr(regDriveAddress, 0xFF),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			drives := []Backend{newMemDisk(64)}
			if tt.slave {
				drives = append(drives, newMemDisk(64))
			}
			runSteps(t, primary(t, drives...), tt.steps)
		})
	}
}

func TestSetFeatures(t *testing.T) {
	tests := []struct {
		name      string
		feature   byte
		count     byte
		wantErr   byte // 0: completes
		wantCache bool
	}{
		{"enable write cache", featEnableWriteCache, 0, 0, true},
		{"disable write cache", featDisableWriteCache, 0, 0, false},
		{"read look-ahead off", featDisableReadAhead, 0, 0, true},
		{"read look-ahead on", featEnableReadAhead, 0, 0, true},
		{"revert on reset", featEnableRevert, 0, 0, true},
		{"no revert on reset", featDisableRevert, 0, 0, true},
		{"PIO default", featSetTransferMode, xferModePIODefault, 0, true},
		{"PIO default without IORDY", featSetTransferMode, xferModePIODefaultNoRD, 0, true},
		{"PIO 0", featSetTransferMode, xferModePIOFlowControl, 0, true},
		{"PIO 4", featSetTransferMode, xferModePIOFlowControl | 4, 0, true},
		{"PIO 5 is not offered", featSetTransferMode, xferModePIOFlowControl | 5, errABRT, true},
		{"multiword DMA 2: no bus master", featSetTransferMode, 0x22, errABRT, true},
		{"Ultra DMA 5: no bus master", featSetTransferMode, 0x45, errABRT, true},
		{"APM is not supported", 0x05, 0x80, errABRT, true},
		{"unknown subcommand", 0x7F, 0, errABRT, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMemDisk(64)
			p := primary(t, m)
			p.outb(regFeature, tt.feature)
			p.outb(regCount, tt.count)
			p.outb(regCommand, cmdSetFeatures)
			assert.True(t, p.line.high(), "completion interrupts")
			if tt.wantErr == 0 {
				assert.Equal(t, byte(statusReady), p.inb(regStatus))
			} else {
				assert.Equal(t, byte(statusFailed), p.inb(regStatus))
				assert.Equal(t, tt.wantErr, p.inb(regError))
			}
			assert.Equal(t, tt.wantCache, p.ch.drives[0].writeCache)
		})
	}
}
