package exitdev

import (
	"fmt"
	"testing"
	"time"

	"github.com/gonest/gonest/devices/devicetest"
)

// FuzzExit: any accesses (devicetest.Decode) read 0, and only a write at
// offset 0 calls back, with its first byte; Code keeps the first one.
func FuzzExit(f *testing.F) {
	f.Add([]byte{0x81, 0, 7, 0x82, 0, 9, 9, 0x81, 1, 3, 0x04, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var got, want []uint8
		e := New(func(code uint8) { got = append(got, code) })
		devicetest.Run(t, e, devicetest.Decode(data, Size), func(a devicetest.Access, read []byte) error {
			if !a.Write {
				return devicetest.AllBytes(read, 0)
			}
			if a.Offset == 0 && len(a.Data) > 0 {
				want = append(want, a.Data[0])
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				return fmt.Errorf("codes %v, want %v", got, want)
			}
			code, seen := e.Code()
			if seen != (len(want) > 0) || (seen && code != want[0]) {
				return fmt.Errorf("Code() = %d, %v; the first write was %v", code, seen, want)
			}
			return nil
		})
	})
}

// FuzzMarker: any accesses read 0; each write at offset 0 is one mark
// with its first byte, kept up to MaxMarks and counted as dropped after.
func FuzzMarker(f *testing.F) {
	f.Add([]byte{0x81, 0, 1, 0x84, 0, 2, 0, 0, 0, 0x81, 1, 5, 0x01, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var calls, want []uint8
		m := NewMarker(MarkerConfig{OnMark: func(mk Mark) { calls = append(calls, mk.ID) },
			Clock: func() time.Time { return time.Unix(1, 0) }})
		// Each access again, so that short inputs pass MaxMarks too.
		acc := devicetest.Decode(data, MarkerSize)
		for len(acc) > 0 && len(acc) <= MaxMarks {
			acc = append(acc, acc...)
		}
		devicetest.Run(t, m, acc, func(a devicetest.Access, read []byte) error {
			if !a.Write {
				return devicetest.AllBytes(read, 0)
			}
			if a.Offset == 0 && len(a.Data) > 0 {
				want = append(want, a.Data[0])
			}
			marks, dropped := m.Marks()
			if len(marks) > MaxMarks || len(marks)+dropped != len(want) || fmt.Sprint(calls) != fmt.Sprint(want) {
				return fmt.Errorf("%d marks kept, %d dropped, %d callbacks; %d writes at offset 0", len(marks), dropped, len(calls), len(want))
			}
			for i, mk := range marks {
				if mk.ID != want[i] {
					return fmt.Errorf("mark %d is %d, want %d", i, mk.ID, want[i])
				}
			}
			return nil
		})
	})
}
