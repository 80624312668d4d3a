package misc

import (
	"testing"

	"github.com/gonest/gonest/devices/devicetest"
)

// FuzzNull: whatever the guest wrote, every byte of every read is the
// fill byte.
func FuzzNull(f *testing.F) {
	f.Add([]byte{0x88, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0x08, 3}, byte(0xff))
	f.Fuzz(func(t *testing.T, data []byte, fill byte) {
		n := NewNull("null", fill)
		devicetest.Run(t, n, devicetest.Decode(data, 16), func(a devicetest.Access, read []byte) error {
			return devicetest.AllBytes(read, fill)
		})
	})
}
