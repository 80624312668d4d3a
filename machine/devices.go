package machine

import (
	"errors"
	"sync"
	"time"

	"github.com/gonest/gonest/acpi"
	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/devices"
	"github.com/gonest/gonest/devices/acpipm"
	"github.com/gonest/gonest/devices/cmos"
	"github.com/gonest/gonest/devices/exitdev"
	"github.com/gonest/gonest/devices/i8042"
	"github.com/gonest/gonest/devices/misc"
	"github.com/gonest/gonest/devices/msgport"
	"github.com/gonest/gonest/devices/serial"
	"github.com/gonest/gonest/guestabi"
)

// legacyDevices are the PC devices every gonest machine has.
type legacyDevices struct {
	serial *serial.Serial
	cmos   *cmos.CMOS
	i8042  *i8042.Controller
	pm     *acpipm.PM
	exit   *exitdev.Exit
	marker *exitdev.Marker
	msgs   *msgport.Port
}

// irqLine drives one GSI of the in-kernel irqchip with KVM_IRQ_LINE.
type irqLine struct {
	m    *Machine
	gsi  uint32
	once sync.Once
}

// SetLevel implements devices.InterruptLine.
func (l *irqLine) SetLevel(high bool) {
	if err := l.m.vm.IRQLine(l.gsi, high); err != nil {
		// Only a broken VM fd makes this fail; say so once, not per interrupt.
		l.once.Do(func() { l.m.log.Error("interrupt line", "gsi", l.gsi, "err", err) })
	}
}

func (m *Machine) irq(gsi uint32) devices.InterruptLine { return &irqLine{m: m, gsi: gsi} }

// firstSerialByte stamps the timeline when the guest prints its first byte.
type firstSerialByte struct {
	m    *Machine
	once sync.Once
}

func (f *firstSerialByte) Write(p []byte) (int, error) {
	f.once.Do(func() { f.m.timeline.mark(EventFirstSerial, time.Now()) })
	return len(p), nil
}

// setupDevices puts the legacy PC devices on the port-I/O bus at the
// addresses boot/layout.go gives them.
func (m *Machine) setupDevices() error {
	low := min(m.cfg.MemSize, boot.LowRAMMax)
	m.legacy = legacyDevices{
		serial: serial.New(serial.Config{
			Name:   "serial (COM1)",
			Out:    teeWriter(m.cfg.ConsoleOut, &firstSerialByte{m: m}),
			IRQ:    m.irq(boot.COM1IRQ),
			Logger: m.log,
		}),
		cmos: cmos.New(cmos.Config{Name: "rtc/cmos", MemBelow4G: low, MemAbove4G: m.cfg.MemSize - low}),
		i8042: i8042.New(i8042.Config{
			Reset:  func() { m.Stop(Outcome{Reason: ReasonReset, Code: ExitOK}) },
			KbdIRQ: m.irq(boot.I8042IRQ),
		}),
		pm: acpipm.New(acpipm.Config{
			PowerOff: func() { m.Stop(Outcome{Reason: ReasonPoweroff, Code: ExitOK}) },
			Reset:    func() { m.Stop(Outcome{Reason: ReasonReset, Code: ExitOK}) },
		}),
		exit: exitdev.New(func(code uint8) {
			m.Stop(Outcome{Reason: ReasonExitPort, Code: int(code)})
		}),
		marker: exitdev.NewMarker(exitdev.MarkerConfig{OnMark: m.onMark}),
		msgs:   msgport.New(msgport.Config{OnLine: m.onMessageLine}),
	}
	d := &m.legacy
	for _, p := range []struct {
		dev        devices.Device
		base, size uint64
	}{
		{d.serial, boot.COM1Port, boot.COM1PortSize},
		{d.cmos, boot.CMOSPort, boot.CMOSPortSize},
		{d.i8042.DataPort(), boot.I8042DataPort, i8042.PortSize},
		{d.i8042.CommandPort(), boot.I8042CommandPort, i8042.PortSize},
		{d.pm, boot.ACPIPMPort, boot.ACPIPMPortSize},
		{d.exit, boot.ExitPort, boot.ExitPortSize},
		{d.marker, boot.MarkerPort, boot.MarkerPortSize},
		{d.msgs, boot.MessagePort, boot.MessagePortSize},
		// Linux's I/O delay port; quiet, so it costs an exit and nothing else.
		{misc.NewNull("post (0x80)", 0xff), boot.POSTPort, 1},
	} {
		if err := m.pio.Insert(p.dev, p.base, p.size); err != nil {
			return err
		}
	}
	return nil
}

// acpiConfig describes this machine to package acpi.
func (m *Machine) acpiConfig() acpi.Config {
	c := acpi.DefaultConfig(m.cfg.CPUs)
	c.RTCCentury = cmos.CenturyIndex
	return c
}

// onMark records a guest timing marker.
func (m *Machine) onMark(mk exitdev.Mark) {
	at := mk.At
	if at.IsZero() {
		at = time.Now()
	}
	m.timeline.markf(at, "guest: %s", guestabi.DescribeMarker(mk.ID))
	if m.cfg.OnMarker != nil {
		m.cfg.OnMarker(Marker{Value: uint32(mk.ID), At: at.Sub(m.start)})
	}
}

// onMessageLine passes a valid message line on to Config.OnMessage. A
// line that is not a message is someone else's text; a broken message is
// logged once, since a guest may repeat it at every exit.
func (m *Machine) onMessageLine(line []byte) {
	msg, err := guestabi.ParseMessage(line)
	switch {
	case errors.Is(err, guestabi.ErrNotMessage):
		return
	case err != nil:
		m.badMessage.Do(func() { m.log.Warn("guest wrote a broken message line; dropped (further ones silently)", "err", err) })
		return
	}
	if m.cfg.OnMessage != nil {
		m.cfg.OnMessage(msg)
	}
}

// Console is the guest's serial console, for feeding it host input.
func (m *Machine) Console() *serial.Serial { return m.legacy.serial }
