package cmos

// Ports, as offsets from the base the board picks (0x70 on a PC).
const (
	// IndexPort selects the CMOS byte that DataPort reaches; bit 7 masks NMI.
	IndexPort = 0
	// DataPort reads and writes the selected byte.
	DataPort = 1
	// Size is the number of ports.
	Size = 2

	indexMask   = 0x7f // the CMOS has 128 bytes
	indexNMIOff = 0x80 // NMI disable bit in the index port
)

// MC146818 clock registers, by CMOS index.
const (
	regSeconds      = 0x00
	regSecondsAlarm = 0x01
	regMinutes      = 0x02
	regMinutesAlarm = 0x03
	regHours        = 0x04
	regHoursAlarm   = 0x05
	regWeekday      = 0x06 // 1 = Sunday ... 7 = Saturday
	regDay          = 0x07 // day of the month, 1-31
	regMonth        = 0x08 // 1-12
	regYear         = 0x09 // 0-99, within the century
	regA            = 0x0a
	regB            = 0x0b
	regC            = 0x0c
	regD            = 0x0d
	// CenturyIndex holds the century (19, 20, ...). The FADT's CENTURY
	// field must name it for Linux to read it.
	CenturyIndex = 0x32
)

// Register A: update status and time base.
const (
	aUIP      = 1 << 7 // update in progress: the time registers are about to change
	aDivMask  = 0x70   // DV2-DV0, time base divider
	aDiv32kHz = 0x20   // DV = 010: 32.768 kHz time base, clock running
	aRateMask = 0x0f   // RS3-RS0, periodic interrupt rate
	aRate1kHz = 0x06   // RS = 0110: 1024 Hz
	aDefault  = aDiv32kHz | aRate1kHz
	aWritable = aDivMask | aRateMask
)

// Register B: mode and interrupt enables.
const (
	bSET     = 1 << 7 // halt updates so the time can be set
	bPIE     = 1 << 6 // periodic interrupt enable (stored; no interrupts here)
	bAIE     = 1 << 5 // alarm interrupt enable (stored; no interrupts here)
	bUIE     = 1 << 4 // update-ended interrupt enable (stored; no interrupts here)
	bSQWE    = 1 << 3 // square wave enable (stored, no output)
	bBinary  = 1 << 2 // DM: time registers in binary instead of BCD
	b24Hour  = 1 << 1 // 24-hour mode instead of 12-hour
	bDSE     = 1 << 0 // daylight saving enable (stored, ignored)
	bDefault = b24Hour
)

// Register C: interrupt flags, cleared by reading. With no periodic, alarm
// or update interrupts implemented it always reads 0; the bits are named
// for the reader.
const (
	cIRQF = 1 << 7 //lint:ignore U1000 IRQF: an enabled interrupt flag is set (never here)
	cPF   = 1 << 6 //lint:ignore U1000 PF: periodic interrupt flag (never here)
	cAF   = 1 << 5 //lint:ignore U1000 AF: alarm flag (never here)
	cUF   = 1 << 4 //lint:ignore U1000 UF: update-ended flag (never here)
)

// Register D: power.
const (
	dVRT = 1 << 7 // valid RAM and time: the battery is good
)

// hourPM marks PM in the hour registers in 12-hour mode.
const hourPM = 0x80

// Memory size bytes, in the layout PC BIOSes and QEMU use.
const (
	regBaseMemLo = 0x15 // base memory in KiB (640), low byte
	regBaseMemHi = 0x16
	regExtMemLo  = 0x17 // KiB above 1 MiB, capped at 65535, low byte
	regExtMemHi  = 0x18
	regExtMem2Lo = 0x30 // copy of 0x17-0x18
	regExtMem2Hi = 0x31
	regMem16MLo  = 0x34 // 64 KiB units above 16 MiB (below 4 GiB), capped at 65535
	regMem16MHi  = 0x35
	regMem4GLo   = 0x5b // 64 KiB units above 4 GiB, three bytes
	regMem4GMid  = 0x5c
	regMem4GHi   = 0x5d
	baseMemKiB   = 640
)

// uipWindow is how long before each second's update UIP reads 1; a reader
// that sees UIP clear has at least this long to read the time.
const uipWindowNanos = 244_000
