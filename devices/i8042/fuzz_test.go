package i8042

import (
	"fmt"
	"testing"

	"github.com/gonest/gonest/devices"
	"github.com/gonest/gonest/devices/devicetest"
)

// both puts the data port at offsets 0-3 and the command port at 4-7 of
// one device, so that one access stream reaches both, at their register
// and past it.
type both struct{ data, cmd devices.Device }

func (b both) pick(offset uint64) (devices.Device, uint64) {
	if offset < 4 {
		return b.data, offset
	}
	return b.cmd, offset - 4
}

func (b both) Read(offset uint64, data []byte) {
	d, o := b.pick(offset)
	d.Read(o, data)
}

func (b both) Write(offset uint64, data []byte) {
	d, o := b.pick(offset)
	d.Write(o, data)
}

// FuzzPorts drives both ports with any accesses (devicetest.Decode): the
// output queue stays bounded, the status register tells the truth about
// it, each interrupt line follows the byte at the head of the queue and
// changes only when its level does, and only the byte at a port's own
// offset is defined (the rest read 0xff).
func FuzzPorts(f *testing.F) {
	f.Add([]byte{0x81, 4, cmdSelfTest, 0x01, 0, 0x81, 4, cmdWriteRAM, 0x81, 0, 0x47, 0x81, 4, cmdWriteAuxBuf, 0x81, 0, 1, 0x02, 0})
	f.Add([]byte{0x81, 4, 0xd2, 0x81, 0, 1, 0x81, 4, 0xfe, 0x04, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newRig()
		dev := both{r.data, r.cmd}
		devicetest.Run(t, dev, devicetest.Decode(data, 8), func(a devicetest.Access, read []byte) error {
			for i, v := range read {
				if (a.Offset%4 != 0 || i > 0) && v != 0xff {
					return fmt.Errorf("byte %d of a read at +%d reads %#x, want 0xff", i, a.Offset, v)
				}
			}
			return r.check()
		})
	})
}

// check verifies what must hold between any two accesses.
func (r *rig) check() error {
	c := r.c
	c.mu.Lock()
	n, ctr, kbdLevel, auxLevel := len(c.out), c.ram[0], c.kbdLevel, c.auxLevel
	var head outByte
	if n > 0 {
		head = c.out[0]
	}
	c.mu.Unlock()
	if n > queueCap {
		return fmt.Errorf("%d bytes queued, at most %d", n, queueCap)
	}
	st := c.status()
	if (st&stOBF != 0) != (n > 0) || st&(stIBF|stParity) != 0 {
		return fmt.Errorf("status %#x with %d bytes queued", st, n)
	}
	wantKbd := n > 0 && !head.aux && ctr&ctrKbdInt != 0
	wantAux := n > 0 && head.aux && ctr&ctrAuxInt != 0
	if kbdLevel != wantKbd || auxLevel != wantAux {
		return fmt.Errorf("lines kbd %v aux %v, want %v %v (CTR %#x)", kbdLevel, auxLevel, wantKbd, wantAux, ctr)
	}
	for _, l := range []struct {
		name  string
		got   []bool
		level bool
	}{{"IRQ 1", r.kbd, kbdLevel}, {"IRQ 12", r.aux, auxLevel}} {
		for i := 1; i < len(l.got); i++ {
			if l.got[i] == l.got[i-1] {
				return fmt.Errorf("%s set to %v twice in a row", l.name, l.got[i])
			}
		}
		if last := len(l.got) > 0 && l.got[len(l.got)-1]; last != l.level {
			return fmt.Errorf("%s driven %v, state says %v", l.name, last, l.level)
		}
	}
	return nil
}
