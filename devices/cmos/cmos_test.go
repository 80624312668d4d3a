package cmos

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices"
)

// fakeClock is a settable wall clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

// start is a Thursday afternoon, half a second into the second.
var start = time.Date(2026, time.November, 26, 16, 49, 52, 500_000_000, time.UTC)

func newCMOS(t *testing.T, at time.Time) (*CMOS, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: at}
	return New(Config{Clock: clk.now, MemBelow4G: 64 << 20}), clk
}

func get(c *CMOS, index byte) byte {
	c.Write(IndexPort, []byte{index})
	b := make([]byte, 1)
	c.Read(DataPort, b)
	return b[0]
}

func set(c *CMOS, index, v byte) {
	c.Write(IndexPort, []byte{index})
	c.Write(DataPort, []byte{v})
}

func hex(b byte) string { return fmt.Sprintf("%#02x", b) }

func TestTimeRegisters(t *testing.T) {
	tests := []struct {
		name string
		at   time.Time
		regB byte
		want map[byte]byte
	}{
		{"BCD 24-hour (reset default)", start, bDefault, map[byte]byte{
			regSeconds: 0x52, regMinutes: 0x49, regHours: 0x16, regWeekday: 5,
			regDay: 0x26, regMonth: 0x11, regYear: 0x26, CenturyIndex: 0x20,
		}},
		{"binary 24-hour", start, bBinary | b24Hour, map[byte]byte{
			regSeconds: 52, regMinutes: 49, regHours: 16, regWeekday: 5,
			regDay: 26, regMonth: 11, regYear: 26, CenturyIndex: 20,
		}},
		{"BCD 12-hour afternoon", start, 0, map[byte]byte{regHours: hourPM | 0x04}},
		{"BCD 12-hour just after midnight", time.Date(2000, 1, 2, 0, 30, 0, 0, time.UTC), 0, map[byte]byte{
			regHours: 0x12, regWeekday: 1, regYear: 0x00, CenturyIndex: 0x20,
		}},
		{"binary 12-hour noon", time.Date(1999, 12, 31, 12, 5, 9, 0, time.UTC), bBinary, map[byte]byte{
			regHours: hourPM | 12, regSeconds: 9, regYear: 99, CenturyIndex: 19, regWeekday: 6,
		}},
		{"status registers", start, bDefault, map[byte]byte{
			regA: aDefault, regB: bDefault, regC: 0, regD: dVRT,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newCMOS(t, tt.at)
			set(c, regB, tt.regB)
			for reg, want := range tt.want {
				assert.Equal(t, hex(want), hex(get(c, reg)), "register %#x", reg)
			}
		})
	}
}

func TestUpdateInProgress(t *testing.T) {
	tests := []struct {
		name    string
		nanos   int
		setMode bool
		want    byte
	}{
		{"mid-second", 500_000_000, false, aDefault},
		{"just before the window", 1e9 - uipWindowNanos - 1, false, aDefault},
		{"inside the window", 1e9 - uipWindowNanos, false, aDefault | aUIP},
		{"last nanosecond", 1e9 - 1, false, aDefault | aUIP},
		{"SET halts updates", 1e9 - 1, true, aDefault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newCMOS(t, time.Date(2026, 1, 1, 0, 0, 0, tt.nanos, time.UTC))
			if tt.setMode {
				set(c, regB, bSET|b24Hour)
			}
			assert.Equal(t, hex(tt.want), hex(get(c, regA)))
		})
	}
}

func TestRegisterAWritesKeepUIPReadOnly(t *testing.T) {
	c, _ := newCMOS(t, start)
	set(c, regA, 0xff)
	assert.Equal(t, hex(0x7f), hex(get(c, regA)))
}

func TestSettingTheTimeMovesAnOffset(t *testing.T) {
	c, clk := newCMOS(t, start)
	// What Linux's mc146818_set_time does: SET, write fields, clear SET.
	set(c, regB, bSET|b24Hour)
	clk.advance(5 * time.Second) // frozen while SET is held
	assert.Equal(t, hex(0x52), hex(get(c, regSeconds)))
	set(c, regSeconds, 0x00)
	set(c, regMinutes, 0x30)
	set(c, regHours, 0x08)
	set(c, regDay, 0x01)
	set(c, regMonth, 0x02)
	set(c, regYear, 0x99)
	set(c, CenturyIndex, 0x19)
	set(c, regB, b24Hour)
	want := map[byte]byte{
		regSeconds: 0x00, regMinutes: 0x30, regHours: 0x08, regDay: 0x01,
		regMonth: 0x02, regYear: 0x99, CenturyIndex: 0x19,
	}
	for reg, v := range want {
		assert.Equal(t, hex(v), hex(get(c, reg)), "register %#x after setting", reg)
	}
	clk.advance(time.Hour + 2*time.Second)
	assert.Equal(t, hex(0x09), hex(get(c, regHours)), "the guest clock runs on from what was set")
	assert.Equal(t, hex(0x02), hex(get(c, regSeconds)))
	assert.Equal(t, hex(0x99), hex(get(c, regYear)))
}

func TestSettingTimeWithoutSETAndIn12HourMode(t *testing.T) {
	c, _ := newCMOS(t, start)
	set(c, regB, 0) // BCD, 12-hour
	set(c, regHours, hourPM|0x11)
	set(c, regB, b24Hour)
	assert.Equal(t, hex(0x23), hex(get(c, regHours)))
	set(c, regB, 0)
	set(c, regHours, 0x12) // 12 AM is midnight
	set(c, regB, b24Hour)
	assert.Equal(t, hex(0x00), hex(get(c, regHours)))
}

func TestWeekdayIsItsOwnCounter(t *testing.T) {
	c, clk := newCMOS(t, start)
	set(c, regWeekday, 1) // the guest insists Thursday is Sunday
	assert.Equal(t, hex(1), hex(get(c, regWeekday)))
	assert.Equal(t, hex(0x26), hex(get(c, regDay)), "the date is untouched")
	clk.advance(24 * time.Hour)
	assert.Equal(t, hex(2), hex(get(c, regWeekday)))
}

func TestBadBCDDoesNotPanic(t *testing.T) {
	c, _ := newCMOS(t, start)
	for _, reg := range []byte{regSeconds, regMinutes, regHours, regWeekday, regDay, regMonth, regYear, CenturyIndex} {
		set(c, reg, 0xff)
		set(c, reg, 0x00)
	}
	for _, reg := range []byte{regSeconds, regMinutes, regHours, regDay, regMonth, regYear} {
		v := get(c, reg)
		assert.LessOrEqual(t, v&0x0f, byte(9), "register %#x reads valid BCD, got %#x", reg, v)
	}
}

func TestIndexPort(t *testing.T) {
	c, _ := newCMOS(t, start)
	c.Write(IndexPort, []byte{indexNMIOff | regD})
	assert.True(t, c.NMIDisabled())
	b := make([]byte, 1)
	c.Read(DataPort, b)
	assert.Equal(t, hex(dVRT), hex(b[0]), "bit 7 of the index is the NMI mask, not an address bit")
	c.Read(IndexPort, b)
	assert.Equal(t, hex(0xff), hex(b[0]), "the index port is write-only")
	c.Write(IndexPort, []byte{regD})
	assert.False(t, c.NMIDisabled())

	wide := make([]byte, 2)
	c.Read(IndexPort, wide)
	assert.Equal(t, []byte{0xff, dVRT}, wide)
	c.Write(IndexPort, []byte{0x40, 0x5a}) // index then data
	assert.Equal(t, hex(0x5a), hex(get(c, 0x40)))
	c.Read(5, b) // outside the device: no panic
	c.Write(5, b)
}

func TestCMOSRAMAndReadOnlyRegisters(t *testing.T) {
	c, _ := newCMOS(t, start)
	for _, idx := range []byte{0x0e, 0x40, 0x7f} {
		set(c, idx, 0xa5)
		assert.Equal(t, hex(0xa5), hex(get(c, idx)), "CMOS byte %#x", idx)
	}
	set(c, regC, 0xff)
	set(c, regD, 0)
	assert.Equal(t, hex(0), hex(get(c, regC)))
	assert.Equal(t, hex(dVRT), hex(get(c, regD)))
	set(c, regSecondsAlarm, 0x33)
	assert.Equal(t, hex(0x33), hex(get(c, regSecondsAlarm)))
	set(c, regB, bSET|bUIE|b24Hour)
	assert.Equal(t, hex(bSET|b24Hour), hex(get(c, regB)), "setting SET clears UIE")
}

func TestMemorySizeBytes(t *testing.T) {
	tests := []struct {
		name         string
		below, above uint64
		want         map[byte]byte
	}{
		{"64 MiB", 64 << 20, 0, map[byte]byte{
			regBaseMemLo: 0x80, regBaseMemHi: 0x02,
			regExtMemLo: 0x00, regExtMemHi: 0xfc, regExtMem2Lo: 0x00, regExtMem2Hi: 0xfc,
			regMem16MLo: 0x00, regMem16MHi: 0x03,
			regMem4GLo: 0, regMem4GMid: 0, regMem4GHi: 0,
		}},
		{"3 GiB below, 5 GiB above", 3 << 30, 5 << 30, map[byte]byte{
			regExtMemLo: 0xff, regExtMemHi: 0xff,
			regMem16MLo: 0x00, regMem16MHi: 0xbf,
			regMem4GLo: 0x00, regMem4GMid: 0x40, regMem4GHi: 0x01,
		}},
		{"under a megabyte", 512 << 10, 0, map[byte]byte{
			regExtMemLo: 0, regExtMemHi: 0, regMem16MLo: 0, regMem16MHi: 0,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Config{Clock: func() time.Time { return start }, MemBelow4G: tt.below, MemAbove4G: tt.above})
			for idx, want := range tt.want {
				assert.Equal(t, hex(want), hex(get(c, idx)), "CMOS byte %#x", idx)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c := New(Config{})
	require.Equal(t, "cmos", c.Name())
	year := get(c, regYear)
	assert.LessOrEqual(t, year&0x0f, byte(9), "the real clock reads as BCD")
	var _ devices.Device = c
}
