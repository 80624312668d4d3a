package devicetest

import (
	"fmt"
	"testing"

	"github.com/gonest/gonest/devices"
)

// MaxWidth is the widest access Decode makes: a 64-bit MMIO access.
const MaxWidth = 8

// Sentinel fills a read's buffer before the device sees it, so a check can
// tell the bytes the device left alone.
const Sentinel = 0xa5

// Access is one guest access to a device.
type Access struct {
	Write  bool
	Offset uint64
	// Data is what a write writes; a read's buffer has len(Data) bytes.
	Data []byte
}

func (a Access) String() string {
	if a.Write {
		return fmt.Sprintf("write %x at +%d", a.Data, a.Offset)
	}
	return fmt.Sprintf("read of %d bytes at +%d", len(a.Data), a.Offset)
}

// Decode turns fuzz input into accesses to a device of span bytes. Each
// access takes an op byte and an offset byte: bit 7 of op makes it a
// write, op%(MaxWidth+1) is its width (0 too), and the offset is taken
// modulo span+2, so accesses just past the device occur. A write takes
// its data from the bytes that follow (fewer when the input runs out).
func Decode(data []byte, span uint64) []Access {
	var out []Access
	for len(data) >= 2 {
		op, off := data[0], uint64(data[1])%(span+2)
		data = data[2:]
		n := int(op&0x7f) % (MaxWidth + 1)
		a := Access{Write: op&0x80 != 0, Offset: off}
		if a.Write {
			n = min(n, len(data))
			a.Data = append([]byte(nil), data[:n]...)
			data = data[n:]
		} else {
			a.Data = make([]byte, n)
		}
		out = append(out, a)
	}
	return out
}

// Run performs the accesses on dev in order. A read's buffer starts as
// Sentinel bytes; check (when not nil) sees each access and, for a read,
// what the device left in the buffer. The test fails at the first error,
// naming the access and the ones before it.
func Run(t testing.TB, dev devices.Device, accesses []Access, check func(a Access, read []byte) error) {
	t.Helper()
	for i, a := range accesses {
		var buf []byte
		if a.Write {
			dev.Write(a.Offset, append([]byte(nil), a.Data...))
		} else {
			buf = make([]byte, len(a.Data))
			for j := range buf {
				buf[j] = Sentinel
			}
			dev.Read(a.Offset, buf)
		}
		if check == nil {
			continue
		}
		if err := check(a, buf); err != nil {
			t.Fatalf("after access %d (%v): %v; accesses so far: %v", i, a, err, accesses[:i+1])
		}
	}
}

// AllBytes reports an error unless every byte of a read is want: for
// devices whose registers read as a constant, a byte left as Sentinel is
// stale VMM memory the guest would see.
func AllBytes(buf []byte, want byte) error {
	for i, b := range buf {
		if b != want {
			return fmt.Errorf("byte %d of %d reads %#x, want %#x", i, len(buf), b, want)
		}
	}
	return nil
}
