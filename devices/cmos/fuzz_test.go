package cmos

import (
	"fmt"
	"testing"
	"time"

	"github.com/gonest/gonest/devices/devicetest"
)

// FuzzRegisters drives the RTC with any accesses (devicetest.Decode): the
// index stays inside the 128 bytes, the index port reads 0xff, and
// whatever time, mode and century the guest wrote, the clock registers
// read back as a valid date in the mode register B selects, as Linux's
// mc146818_get_time (drivers/rtc/rtc-mc146818-lib.c) expects.
func FuzzRegisters(f *testing.F) {
	f.Add([]byte{0x81, 0, 0x0b, 0x81, 1, 0x86, 0x81, 0, 0x32, 0x81, 1, 0xff, 0x81, 0, 0x09, 0x01, 1})
	f.Add([]byte{0x82, 0, 0x04, 0x00, 0x81, 0, 0x06, 0x81, 1, 0x00, 0x02, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		clock := &fakeClock{t: time.Date(2026, 12, 7, 23, 59, 59, 0, time.UTC)}
		c := New(Config{Clock: clock.now, MemBelow4G: 1 << 30})
		devicetest.Run(t, c, devicetest.Decode(data, Size), func(a devicetest.Access, read []byte) error {
			if c.index > indexMask {
				return fmt.Errorf("index %#x past the 128 bytes", c.index)
			}
			for i := range read {
				if a.Offset+uint64(i) != DataPort && read[i] != 0xff {
					return fmt.Errorf("byte %d (port +%d) reads %#x, want 0xff", i, a.Offset+uint64(i), read[i])
				}
			}
			return nil
		})
		clock.advance(1500 * time.Millisecond)
		if err := c.checkClock(); err != nil {
			t.Fatal(err)
		}
	})
}

// checkClock reads every clock register and checks its range.
func (c *CMOS) checkClock() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.ram[regB]
	type limit struct {
		reg    byte
		lo, hi int
	}
	limits := []limit{{regSeconds, 0, 59}, {regMinutes, 0, 59}, {regWeekday, 1, 7}, {regDay, 1, 31}, {regMonth, 1, 12}, {regYear, 0, 99}, {CenturyIndex, 0, 99}}
	if b&b24Hour != 0 {
		limits = append(limits, limit{regHours, 0, 23})
	}
	for _, l := range limits {
		v := c.readTime(l.reg, c.now())
		if b&bBinary == 0 && (v&0x0f > 9 || v>>4 > 9) {
			return fmt.Errorf("register %#x reads %#x: not BCD (register B %#x)", l.reg, v, b)
		}
		if n := c.decode(v); n < l.lo || n > l.hi {
			return fmt.Errorf("register %#x reads %d, want %d to %d (register B %#x)", l.reg, n, l.lo, l.hi, b)
		}
	}
	if b&b24Hour == 0 {
		v := c.readTime(regHours, c.now())
		if n := c.decode(v &^ hourPM); n < 1 || n > 12 {
			return fmt.Errorf("12-hour register reads %d (%#x)", n, v)
		}
	}
	return nil
}
