package ide

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/gonest/gonest/devices"
	"github.com/gonest/gonest/devices/pci"
)

// Config is what the board gives the controller.
type Config struct {
	// Drives are the disks in attachment order: primary master, primary
	// slave, secondary master, secondary slave. At most MaxDrives; a nil
	// entry leaves its place empty, but a slave needs its master.
	Drives []Backend
	// INTx is the function's INTA# line. Nil leaves the function without
	// an interrupt (tests that poll).
	INTx devices.InterruptLine
	// Logger hears about host I/O errors, once per drive; nil discards.
	Logger *slog.Logger
}

// Controller is the PCI IDE function: PIIX3's identity and timing
// registers, both channels in native PCI mode, ATA PIO only. It
// implements pci.Function.
type Controller struct {
	cfg      *pci.Config
	channels [NumChannels]*Channel // nil: no drive on that channel
	backends []Backend
	intx     devices.InterruptLine

	mu     sync.Mutex
	levels [NumChannels]bool // each channel's INTRQ
	high   bool              // INTA# as last driven

	closeOnce sync.Once
	closeErr  error
}

var channelNames = [NumChannels]string{"primary", "secondary"}

// New builds the controller and its drives. A channel without drives has
// no BARs and its decode-enable bit clear, so a driver skips it.
func New(c Config) (*Controller, error) {
	if len(c.Drives) > MaxDrives {
		return nil, fmt.Errorf("the IDE controller takes %d disks (%d channels, master and slave each), not %d; attach the others with if=virtio",
			MaxDrives, NumChannels, len(c.Drives))
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctl := &Controller{intx: c.INTx}
	ctl.cfg = pci.NewConfig(pci.Header{
		VendorID:     vendorIntel,
		DeviceID:     devicePIIX3,
		Class:        classIDE,
		InterruptPin: true,
	})
	var timings [piixRegsEnd - regIDETIMPrimary]byte
	for ch := range NumChannels {
		var be [DrivesPerChannel]Backend
		for unit := range DrivesPerChannel {
			if i := ch*DrivesPerChannel + unit; i < len(c.Drives) {
				be[unit] = c.Drives[i]
			}
		}
		if be[0] == nil {
			if be[1] != nil {
				return nil, fmt.Errorf("ide %s channel: a slave disk needs a master", channelNames[ch])
			}
			continue
		}
		var drives [DrivesPerChannel]*drive
		for unit, b := range be {
			if b == nil {
				continue
			}
			dlog := log.With("ide", channelNames[ch])
			if p, ok := b.(interface{ Path() string }); ok {
				dlog = dlog.With("disk", p.Path())
			}
			drives[unit] = newDrive(b, unit, be[1-unit] != nil, dlog)
			ctl.backends = append(ctl.backends, b)
		}
		chn := newChannel("ide "+channelNames[ch], drives, ctl.channelLine(ch))
		ctl.channels[ch] = chn
		if err := ctl.cfg.AddBAR(2*ch, pci.BAR{Size: CommandBlockSize, IO: true, Device: &chn.cmd}); err != nil {
			return nil, err
		}
		if err := ctl.cfg.AddBAR(2*ch+1, pci.BAR{Size: ControlBlockSize, IO: true, Device: &chn.ctl}); err != nil {
			return nil, err
		}
		timings[2*ch+1] = idetimDecodeEnable >> 8 // IDETIM's high byte
	}
	writable := make([]byte, len(timings))
	for i := range writable {
		writable[i] = 0xFF
	}
	if err := ctl.cfg.SetDeviceRegisters(regIDETIMPrimary, timings[:], writable); err != nil {
		return nil, err
	}
	return ctl, nil
}

// PCIConfig implements pci.Function.
func (ctl *Controller) PCIConfig() *pci.Config { return ctl.cfg }

// Channel returns channel i (0 primary, 1 secondary), or nil when it has
// no drives.
func (ctl *Controller) Channel(i int) *Channel {
	if i < 0 || i >= NumChannels {
		return nil
	}
	return ctl.channels[i]
}

// channelLine is channel ch's INTRQ: INTA# is asserted while either
// channel's is, unless COMMAND.INTxDisable masks it, and STATUS.Interrupt
// follows it.
func (ctl *Controller) channelLine(ch int) func(bool) {
	return func(level bool) {
		ctl.mu.Lock()
		defer ctl.mu.Unlock()
		ctl.levels[ch] = level
		asserted := ctl.levels[0] || ctl.levels[1]
		ctl.cfg.SetInterruptStatus(asserted)
		high := asserted && ctl.cfg.Command()&pci.CommandINTxDisable == 0
		if high != ctl.high && ctl.intx != nil {
			ctl.intx.SetLevel(high)
		}
		ctl.high = high
	}
}

// Close stops the drives (later register accesses read all ones and
// write nothing), then syncs and closes every disk. It is safe to call
// more than once.
func (ctl *Controller) Close() error {
	ctl.closeOnce.Do(func() {
		for _, c := range ctl.channels {
			if c != nil {
				c.mu.Lock()
				c.closed = true
				c.mu.Unlock()
			}
		}
		var errs []error
		for _, b := range ctl.backends {
			errs = append(errs, b.Close())
		}
		ctl.closeErr = errors.Join(errs...)
	})
	return ctl.closeErr
}
