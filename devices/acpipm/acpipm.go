package acpipm

import (
	"sync"

	"github.com/gonest/gonest/devices"
)

// Register offsets from the block's base port.
const (
	SleepControlOffset = 0 // FADT SLEEP_CONTROL_REG
	SleepStatusOffset  = 1 // FADT SLEEP_STATUS_REG
	ResetOffset        = 2 // FADT RESET_REG
	// Size is the ports the block decodes (one spare).
	Size = 4
)

// SLEEP_CONTROL_REG fields (ACPI 6.4, 4.8.3.7).
const (
	SleepTypeShift = 2      // SLP_TYPx, bits 2-4
	SleepTypeMask  = 7 << 2 // SLP_TYPx field
	SleepEnable    = 1 << 5 // SLP_EN: enter the state in SLP_TYPx (write-only)
	SleepTypeS5    = 5      // SLP_TYP of S5, soft off; the DSDT's \_S5 carries it
	wakeStatus     = 1 << 7 // SLEEP_STATUS_REG WAK_STS: woke from sleep (write 1 to clear)
	ResetValue     = 0x01   // FADT RESET_VALUE
	// PoweroffByte is what Linux's poweroff writes to SLEEP_CONTROL_REG.
	PoweroffByte = SleepTypeS5<<SleepTypeShift | SleepEnable // 0x34
)

// Config connects the registers to the board.
type Config struct {
	// Name appears in bus statistics; "acpi-pm" when empty.
	Name string
	// PowerOff is called when the guest enters S5.
	PowerOff func()
	// Reset is called when the guest writes ResetValue to RESET_REG.
	Reset func()
}

// PM is the hardware-reduced ACPI register block.
type PM struct {
	cfg Config
	mu  sync.Mutex
	// lastSleepType is the SLP_TYP of the last sleep request, for tests
	// and diagnostics.
	lastSleepType int
}

var _ devices.Device = (*PM)(nil)

// New returns the register block.
func New(cfg Config) *PM {
	if cfg.Name == "" {
		cfg.Name = "acpi-pm"
	}
	return &PM{cfg: cfg, lastSleepType: -1}
}

// Name implements devices.Named.
func (p *PM) Name() string { return p.cfg.Name }

// Read implements devices.Device. All registers read 0: SLP_EN is
// write-only, WAK_STS is never set, and RESET_REG is write-only.
func (p *PM) Read(offset uint64, data []byte) {
	clear(data)
}

// Write implements devices.Device. Only the low byte of a wider access
// counts, at the register the access starts on.
func (p *PM) Write(offset uint64, data []byte) {
	if len(data) == 0 {
		return
	}
	v := data[0]
	switch offset {
	case SleepControlOffset:
		if v&SleepEnable == 0 {
			return
		}
		typ := int(v&SleepTypeMask) >> SleepTypeShift
		p.mu.Lock()
		p.lastSleepType = typ
		p.mu.Unlock()
		if typ == SleepTypeS5 && p.cfg.PowerOff != nil {
			p.cfg.PowerOff()
		}
	case ResetOffset:
		if v == ResetValue && p.cfg.Reset != nil {
			p.cfg.Reset()
		}
	}
}

// LastSleepType returns the SLP_TYP of the last sleep request, or -1.
func (p *PM) LastSleepType() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastSleepType
}
