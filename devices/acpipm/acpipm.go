package acpipm

import (
	"sync"
	"time"

	"github.com/gonest/gonest/devices"
)

// Layout of the PM register block, as offsets from the I/O base the board
// picks. package acpi writes base+offset into the FADT.
const (
	PM1EventOffset   = 0x00 // PM1a_EVT_BLK: PM1_STS (2 bytes), then PM1_EN (2 bytes)
	PM1EventLen      = 4    // FADT PM1_EVT_LEN
	PM1ControlOffset = 0x04 // PM1a_CNT_BLK: PM1_CNT
	PM1ControlLen    = 2    // FADT PM1_CNT_LEN
	PMTimerOffset    = 0x08 // PM_TMR_BLK
	PMTimerLen       = 4    // FADT PM_TMR_LEN
	ResetOffset      = 0x0c // FADT RESET_REG: a 1-byte register in system I/O space
	ResetLen         = 1
	// ResetValue is the FADT RESET_VALUE: writing it to the reset
	// register resets the machine. Other values are ignored.
	ResetValue = 0x06
	// Size is the number of ports the block decodes.
	Size = 0x10

	// SlpTypS5 is the SLP_TYP value for soft-off. The DSDT's \_S5 package
	// must carry it: Name(_S5, Package(){5, 5, 0, 0}).
	SlpTypS5 = 5

	// PMTimerHz is the PM timer's frequency, fixed by the ACPI spec.
	PMTimerHz = 3579545
	// PMTimer32Bit says the timer counts 32 bits, not 24: the FADT must set
	// TMR_VAL_EXT (flag bit 8).
	PMTimer32Bit = true
)

const (
	offSTS = PM1EventOffset     // PM1_STS
	offEN  = PM1EventOffset + 2 // PM1_EN
	offCNT = PM1ControlOffset   // PM1_CNT
	offTMR = PMTimerOffset      // PM_TMR
)

// PM1_STS: write 1 to clear.
const (
	stsTMR      = 1 << 0  // TMR_STS: timer MSB toggled (not produced here)
	stsBM       = 1 << 4  // BM_STS: bus master activity (not produced here)
	stsGBL      = 1 << 5  // GBL_STS: firmware wants the global lock (not produced here)
	stsPWRBTN   = 1 << 8  // PWRBTN_STS: the power button was pressed
	stsSLPBTN   = 1 << 9  // SLPBTN_STS: the sleep button was pressed (no sleep button here)
	stsRTC      = 1 << 10 // RTC_STS: RTC alarm (not produced here)
	stsPCIEWake = 1 << 14 // PCIEXP_WAKE_STS
	stsWAK      = 1 << 15 // WAK_STS: the system woke from sleep
)

// PM1_EN.
const (
	enTMR        = 1 << 0  // TMR_EN
	enGBL        = 1 << 5  // GBL_EN
	enPWRBTN     = 1 << 8  // PWRBTN_EN
	enSLPBTN     = 1 << 9  // SLPBTN_EN
	enRTC        = 1 << 10 // RTC_EN
	enPCIEWakeDs = 1 << 14 // PCIEXP_WAKE_DIS
	enWritable   = enTMR | enGBL | enPWRBTN | enSLPBTN | enRTC | enPCIEWakeDs
	// sciSources are the status bits that raise SCI when enabled.
	sciSources = stsTMR | stsGBL | stsPWRBTN | stsSLPBTN | stsRTC
)

// PM1_CNT.
const (
	cntSCIEN      = 1 << 0  // SCI_EN: ACPI mode; hardwired to 1 here (there is no SMI_CMD)
	cntBMRLD      = 1 << 1  // BM_RLD
	cntGBLRLS     = 1 << 2  // GBL_RLS: OS releases the global lock (write-only)
	cntSLPTYPShft = 10      // SLP_TYP, bits 10-12: the sleep state to enter
	cntSLPTYPMask = 7 << 10 // SLP_TYP field mask
	cntSLPEN      = 1 << 13 // SLP_EN: enter the SLP_TYP state (write-only)
	cntStored     = cntBMRLD | cntSLPTYPMask
)

// Config is what the board gives the PM block.
type Config struct {
	// Name appears in bus statistics; "acpi-pm" when empty.
	Name string
	// PowerOff is called when the guest enters S5 (SLP_EN with SLP_TYP ==
	// SlpTypS5). Reset is called when the guest writes ResetValue to the
	// reset register. Both run on the vCPU thread, after the lock is
	// released, and may be called more than once.
	PowerOff func()
	Reset    func()
	// SCI is the ACPI system control interrupt line (the FADT's SCI_INT,
	// IRQ 9 on a PC), raised while an enabled status bit is set.
	SCI devices.InterruptLine
	// Clock is a monotonic clock for the PM timer; nil means the time
	// since New.
	Clock func() time.Duration
}

// PM is the fixed-hardware ACPI register block. It implements
// devices.Device over Size ports.
type PM struct {
	name     string
	powerOff func()
	reset    func()
	sci      devices.InterruptLine
	clock    func() time.Duration

	mu       sync.Mutex
	sts      uint16
	en       uint16
	cnt      uint16 // cntStored bits
	sciLevel bool
}

// New returns the block in its power-on state.
func New(cfg Config) *PM {
	p := &PM{name: cfg.Name, powerOff: cfg.PowerOff, reset: cfg.Reset, sci: cfg.SCI, clock: cfg.Clock}
	if p.name == "" {
		p.name = "acpi-pm"
	}
	if p.clock == nil {
		start := time.Now()
		p.clock = func() time.Duration { return time.Since(start) }
	}
	return p
}

// Name implements devices.Named.
func (p *PM) Name() string { return p.name }

// PressPowerButton presses the fixed-hardware power button: PWRBTN_STS is
// set and SCI raised if the guest enabled it. Linux then runs its power
// button handler, which by default shuts down cleanly.
func (p *PM) PressPowerButton() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sts |= stsPWRBTN
	p.updateSCI()
}

// timer returns the PM timer count.
func (p *PM) timer() uint32 {
	ns := p.clock()
	if ns < 0 {
		ns = 0
	}
	sec, frac := uint64(ns/time.Second), uint64(ns%time.Second)
	return uint32(sec*PMTimerHz + frac*PMTimerHz/uint64(time.Second))
}

// registers returns the block as the guest reads it.
func (p *PM) registers() [Size]byte {
	var r [Size]byte
	put16 := func(off int, v uint16) { r[off], r[off+1] = byte(v), byte(v>>8) }
	put16(offSTS, p.sts)
	put16(offEN, p.en)
	put16(offCNT, p.cnt|cntSCIEN)
	t := p.timer()
	r[offTMR], r[offTMR+1], r[offTMR+2], r[offTMR+3] = byte(t), byte(t>>8), byte(t>>16), byte(t>>24)
	// The reset register reads 0.
	return r
}

// Read implements devices.Device. Accesses of any width read the bytes
// they cover; bytes past the block read 0xff.
func (p *PM) Read(offset uint64, data []byte) {
	p.mu.Lock()
	r := p.registers()
	p.mu.Unlock()
	for i := range data {
		off := offset + uint64(i)
		if off >= Size || off < offset {
			data[i] = 0xff
			continue
		}
		data[i] = r[off]
	}
}

// setByte replaces byte n (0 or 1) of v.
func setByte(v uint16, n uint64, b byte) uint16 {
	sh := 8 * n
	return v&^(0xff<<sh) | uint16(b)<<sh
}

// Write implements devices.Device. Accesses of any width write the bytes
// they cover, register by register; bytes past the block are dropped.
func (p *PM) Write(offset uint64, data []byte) {
	var stsClear uint16
	cntTouched, doReset := false, false
	p.mu.Lock()
	en, cnt := p.en, p.cnt|cntSCIEN
	for i, v := range data {
		off := offset + uint64(i)
		if off < offset {
			break
		}
		switch {
		case off >= offSTS && off < offSTS+2:
			stsClear |= uint16(v) << (8 * (off - offSTS))
		case off >= offEN && off < offEN+2:
			en = setByte(en, off-offEN, v)
		case off >= offCNT && off < offCNT+2:
			cnt = setByte(cnt, off-offCNT, v)
			cntTouched = true
		case off == ResetOffset:
			doReset = v == ResetValue
		}
		// PM_TMR is read-only; other bytes are reserved.
	}
	p.sts &^= stsClear
	p.en = en & enWritable
	doPowerOff := false
	if cntTouched {
		p.cnt = cnt & cntStored
		if cnt&cntSLPEN != 0 && (cnt&cntSLPTYPMask)>>cntSLPTYPShft == SlpTypS5 {
			doPowerOff = true
		}
	}
	p.updateSCI()
	p.mu.Unlock()
	if doPowerOff && p.powerOff != nil {
		p.powerOff()
	}
	if doReset && p.reset != nil {
		p.reset()
	}
}

// updateSCI drives SCI while an enabled event is pending. Called with mu held.
func (p *PM) updateSCI() {
	level := p.sts&p.en&sciSources != 0
	if level == p.sciLevel {
		return
	}
	p.sciLevel = level
	if p.sci != nil {
		p.sci.SetLevel(level)
	}
}
