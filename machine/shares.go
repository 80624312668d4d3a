package machine

import (
	"errors"
	"fmt"

	"github.com/gonest/gonest/devices/virtio/vconsole"
	"github.com/gonest/gonest/devices/virtio/virtiofs"
)

// ShareSpec is one -fs: a host directory the guest mounts by its tag.
type ShareSpec = virtiofs.Spec

// ParseShareSpec parses a -fs value.
func ParseShareSpec(s string) (ShareSpec, error) { return virtiofs.ParseSpec(s) }

// PortConfig is one virtio-console port and the host streams behind it.
type PortConfig = vconsole.PortConfig

// share is one -fs: its virtio-fs device and PCI function.
type share struct {
	dev *virtiofs.Device
	fn  *virtioFn
}

// console is the virtio-console device carrying every port.
type console struct {
	dev *vconsole.Device
	fn  *virtioFn
}

// openShares opens each share's directory and the console's ports. It
// needs nothing of KVM, so bad input is reported before /dev/kvm is
// opened.
func (m *Machine) openShares() error {
	for _, spec := range m.cfg.Shares {
		dev, err := virtiofs.New(spec, m.log)
		if err != nil {
			return &InputError{Err: err} // virtiofs's errors name the share
		}
		m.shares = append(m.shares, &share{dev: dev})
	}
	if len(m.cfg.Ports) > 0 {
		dev, err := vconsole.New(vconsole.Config{Ports: m.cfg.Ports, Logger: m.log})
		if err != nil {
			return &InputError{Err: err}
		}
		m.console = &console{dev: dev}
		m.ports = dev.Ports()
	}
	return nil
}

// plugShares puts the shares and the console on PCI bus 0, after the disks
// and the IDE controller.
func (m *Machine) plugShares() error {
	for _, s := range m.shares {
		var err error
		if s.fn, err = m.plugVirtio("-fs "+s.dev.Spec().String(), s.dev); err != nil {
			return err
		}
	}
	if m.console != nil {
		var err error
		if m.console.fn, err = m.plugVirtio("virtio-console", m.console.dev); err != nil {
			return err
		}
	}
	return nil
}

// closeShares stops the shares and the console. The console first writes
// out everything the guest queued on its ports. Safe to call twice.
func (m *Machine) closeShares() error {
	var errs []error
	for _, s := range m.shares {
		errs = append(errs, s.fn.close(), s.dev.Close())
	}
	m.shares = nil
	if c := m.console; c != nil {
		// The device before its transport: closing the transport resets
		// the device, and a reset drops what the guest queued, where
		// Close writes it out.
		errs = append(errs, c.dev.Close(), c.fn.close())
		m.console = nil
	}
	return errors.Join(errs...)
}

// Ports returns the console's ports (none without -port), for their
// statistics and errors, during the run and after it.
func (m *Machine) Ports() []*vconsole.Port { return m.ports }

// checkShares refuses what would make two devices ambiguous to the guest.
func (c *Config) checkShares() error {
	tags := map[string]bool{}
	for _, s := range c.Shares {
		if tags[s.Tag] {
			return inputErrorf("-fs tag=%s is given twice; give each share its own tag", s.Tag)
		}
		tags[s.Tag] = true
	}
	if len(c.Ports) > vconsole.MaxPorts {
		return inputErrorf("%d -port flags; at most %d", len(c.Ports), vconsole.MaxPorts)
	}
	return nil
}

// describeShares logs, at debug level, what openShares and plugShares
// built.
func (m *Machine) describeShares() {
	for _, s := range m.shares {
		spec := s.dev.Spec()
		m.log.Debug("share", "dir", spec.Dir, "tag", spec.Tag, "read_only", spec.ReadOnly, "pci_slot", slotOf(s.fn),
			"mount", fmt.Sprintf("mount -t virtiofs %s /mnt", spec.Tag))
	}
	if m.console != nil {
		for _, p := range m.console.dev.Ports() {
			m.log.Debug("console port", "name", p.Name(), "id", p.ID(), "pci_slot", slotOf(m.console.fn))
		}
	}
}

func slotOf(fn *virtioFn) int {
	if fn == nil {
		return -1
	}
	return fn.slot
}
