package acpipm

import (
	"fmt"
	"testing"

	"github.com/gonest/gonest/devices/devicetest"
)

// FuzzRegisters drives the block with any accesses (devicetest.Decode)
// and checks it against a model: every register reads 0 in every byte,
// and the guest powers off or resets exactly when the first byte of a
// write at SLEEP_CONTROL_REG or RESET_REG asks for it.
func FuzzRegisters(f *testing.F) {
	f.Add([]byte{0x81, SleepControlOffset, PoweroffByte, 0x81, ResetOffset, ResetValue, 0x04, 0})
	f.Add([]byte{0x82, SleepControlOffset, SleepEnable | 3<<SleepTypeShift, 0xff, 0x84, 1, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		var off, resets, wantOff, wantResets int
		wantType := -1
		p := New(Config{PowerOff: func() { off++ }, Reset: func() { resets++ }})
		devicetest.Run(t, p, devicetest.Decode(data, Size), func(a devicetest.Access, read []byte) error {
			if !a.Write {
				return devicetest.AllBytes(read, 0)
			}
			if len(a.Data) > 0 {
				v := a.Data[0]
				switch {
				case a.Offset == SleepControlOffset && v&SleepEnable != 0:
					wantType = int(v&SleepTypeMask) >> SleepTypeShift
					if wantType == SleepTypeS5 {
						wantOff++
					}
				case a.Offset == ResetOffset && v == ResetValue:
					wantResets++
				}
			}
			if off != wantOff || resets != wantResets || p.LastSleepType() != wantType {
				return fmt.Errorf("poweroffs %d resets %d sleep type %d, want %d %d %d",
					off, resets, p.LastSleepType(), wantOff, wantResets, wantType)
			}
			return nil
		})
	})
}
