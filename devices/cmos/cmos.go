package cmos

import (
	"sync"
	"time"
)

// Config is what the board gives the RTC.
type Config struct {
	// Name appears in bus statistics; "cmos" when empty.
	Name string
	// Clock is the host's wall clock; nil means time.Now. The RTC keeps
	// UTC, as Linux on x86 expects by default.
	Clock func() time.Time
	// MemBelow4G and MemAbove4G are the bytes of guest RAM below and above
	// 4 GiB; they fill the memory size bytes a BIOS would leave.
	MemBelow4G uint64
	MemAbove4G uint64
}

// CMOS is the MC146818 real-time clock and its 128 bytes of CMOS RAM,
// reached through an index port and a data port. It implements
// devices.Device over Size ports.
type CMOS struct {
	name  string
	clock func() time.Time

	mu         sync.Mutex
	index      byte
	nmiOff     bool
	ram        [indexMask + 1]byte
	offset     time.Duration // guest time minus host time
	frozen     time.Time     // guest time while register B's SET bit holds it
	weekdayAdj int           // guest's weekday minus the computed one, mod 7
}

// New returns the RTC with the time taken from cfg.Clock.
func New(cfg Config) *CMOS {
	c := &CMOS{name: cfg.Name, clock: cfg.Clock}
	if c.name == "" {
		c.name = "cmos"
	}
	if c.clock == nil {
		c.clock = time.Now
	}
	c.ram[regA] = aDefault
	c.ram[regB] = bDefault
	c.ram[regD] = dVRT
	c.setMemorySizes(cfg.MemBelow4G, cfg.MemAbove4G)
	return c
}

// Name implements devices.Named.
func (c *CMOS) Name() string { return c.name }

// NMIDisabled reports whether the guest last wrote the index port with the
// NMI-disable bit set.
func (c *CMOS) NMIDisabled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nmiOff
}

func (c *CMOS) setMemorySizes(below, above uint64) {
	put16 := func(lo, hi int, v uint64) {
		c.ram[lo] = byte(v)
		c.ram[hi] = byte(v >> 8)
	}
	put16(regBaseMemLo, regBaseMemHi, baseMemKiB)
	var ext uint64
	if below > 1<<20 {
		ext = min((below-1<<20)>>10, 0xffff)
	}
	put16(regExtMemLo, regExtMemHi, ext)
	put16(regExtMem2Lo, regExtMem2Hi, ext)
	var over16M uint64
	if below > 16<<20 {
		over16M = min((below-16<<20)>>16, 0xffff)
	}
	put16(regMem16MLo, regMem16MHi, over16M)
	over4G := min(above>>16, 0xffffff)
	c.ram[regMem4GLo] = byte(over4G)
	c.ram[regMem4GMid] = byte(over4G >> 8)
	c.ram[regMem4GHi] = byte(over4G >> 16)
}

// Read implements devices.Device: the data port returns the selected
// byte; the index port is write-only and reads 0xff. A wider access reads
// consecutive ports.
func (c *CMOS) Read(offset uint64, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range data {
		switch offset + uint64(i) {
		case DataPort:
			data[i] = c.readData()
		default:
			data[i] = 0xff
		}
	}
}

// Write implements devices.Device. A wider access writes consecutive ports.
func (c *CMOS) Write(offset uint64, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, v := range data {
		switch offset + uint64(i) {
		case IndexPort:
			c.index = v & indexMask
			c.nmiOff = v&indexNMIOff != 0
		case DataPort:
			c.writeData(v)
		}
	}
}

// now is the guest's RTC time.
func (c *CMOS) now() time.Time {
	if c.ram[regB]&bSET != 0 {
		return c.frozen
	}
	return c.clock().UTC().Add(c.offset)
}

func (c *CMOS) readData() byte {
	switch c.index {
	case regSeconds, regMinutes, regHours, regWeekday, regDay, regMonth, regYear, CenturyIndex:
		return c.readTime(c.index, c.now())
	case regA:
		v := c.ram[regA] &^ aUIP
		if c.ram[regB]&bSET == 0 && c.now().Nanosecond() >= 1e9-uipWindowNanos {
			v |= aUIP
		}
		return v
	case regC:
		return 0 // no interrupt sources: no flags
	case regD:
		return dVRT
	}
	return c.ram[c.index]
}

func (c *CMOS) writeData(v byte) {
	switch c.index {
	case regSeconds, regMinutes, regHours, regWeekday, regDay, regMonth, regYear, CenturyIndex:
		c.writeTime(c.index, v)
	case regA:
		c.ram[regA] = v & aWritable
	case regB:
		c.writeB(v)
	case regC, regD:
		// Read-only.
	default:
		c.ram[c.index] = v
	}
}

func (c *CMOS) writeB(v byte) {
	old := c.ram[regB]
	if v&bSET != 0 {
		v &^= bUIE // setting SET clears UIE
		if old&bSET == 0 {
			c.frozen = c.now()
		}
	} else if old&bSET != 0 {
		c.offset = c.frozen.Sub(c.clock().UTC())
	}
	c.ram[regB] = v
}

// encode formats a time field per register B.
func (c *CMOS) encode(n int) byte {
	if c.ram[regB]&bBinary != 0 {
		return byte(n)
	}
	return byte(n/10%10<<4 | n%10)
}

// decode parses a guest-written field per register B. Bad BCD digits are
// taken at face value; time.Date normalizes whatever comes out.
func (c *CMOS) decode(v byte) int {
	if c.ram[regB]&bBinary != 0 {
		return int(v)
	}
	return int(v>>4)*10 + int(v&0x0f)
}

func (c *CMOS) readTime(reg byte, t time.Time) byte {
	switch reg {
	case regSeconds:
		return c.encode(t.Second())
	case regMinutes:
		return c.encode(t.Minute())
	case regHours:
		h := t.Hour()
		if c.ram[regB]&b24Hour != 0 {
			return c.encode(h)
		}
		h12 := h % 12
		if h12 == 0 {
			h12 = 12
		}
		v := c.encode(h12)
		if h >= 12 {
			v |= hourPM
		}
		return v
	case regWeekday:
		return c.encode((int(t.Weekday())+c.weekdayAdj)%7 + 1)
	case regDay:
		return c.encode(t.Day())
	case regMonth:
		return c.encode(int(t.Month()))
	case regYear:
		return c.encode(t.Year() % 100)
	default: // CenturyIndex
		return c.encode(t.Year() / 100 % 100)
	}
}

func (c *CMOS) writeTime(reg byte, v byte) {
	t := c.now()
	year, month, day := t.Date()
	hour, minute, sec := t.Clock()
	switch reg {
	case regSeconds:
		sec = c.decode(v)
	case regMinutes:
		minute = c.decode(v)
	case regHours:
		if c.ram[regB]&b24Hour != 0 {
			hour = c.decode(v)
		} else {
			hour = c.decode(v&^hourPM) % 12
			if v&hourPM != 0 {
				hour += 12
			}
		}
	case regWeekday:
		// An independent counter on the chip: remember the difference.
		c.weekdayAdj = ((c.decode(v)-1-int(t.Weekday()))%7 + 7) % 7
		return
	case regDay:
		day = c.decode(v)
	case regMonth:
		month = time.Month(c.decode(v))
	case regYear:
		year = year/100*100 + c.decode(v)%100
	default: // CenturyIndex
		year = c.decode(v)*100 + year%100
	}
	nt := time.Date(year, month, day, hour, minute, sec, t.Nanosecond(), time.UTC)
	if c.ram[regB]&bSET != 0 {
		c.frozen = nt
		return
	}
	c.offset = nt.Sub(c.clock().UTC())
}
