package machine

import (
	"errors"
	"fmt"

	"github.com/gonest/gonest/devices/disk"
	"github.com/gonest/gonest/devices/virtio"
	"github.com/gonest/gonest/devices/virtio/blk"
)

// firstDiskSlot is the PCI slot of the first virtio disk; slot 0 is the
// host bridge. The virtio disks take consecutive slots in -disk order, and
// the IDE controller, when there are if=ide disks, the slot after them.
const firstDiskSlot = 1

// virtioDisk is one virtio -disk: the image, its virtio-pci transport and its MSI-X
// interrupts.
type virtioDisk struct {
	spec DiskSpec
	dev  *blk.Device
	pci  *virtio.PCI
	msi  *msiRouter
}

// Close stops the device's workers, then flushes and closes the image.
func (d *virtioDisk) Close() error {
	var errs []error
	if d.pci != nil {
		errs = append(errs, d.pci.Close())
		d.pci = nil
	}
	if d.msi != nil {
		errs = append(errs, d.msi.Close())
		d.msi = nil
	}
	if d.dev != nil {
		if err := d.dev.Close(); err != nil {
			errs = append(errs, fmt.Errorf("disk %s: %w", d.spec.Path, err))
		}
		d.dev = nil
	}
	return errors.Join(errs...)
}

// DiskSpec is one -disk: PATH[,ro][,serial=ID][,if=virtio|ide].
type DiskSpec = disk.Spec

// ParseDiskSpec parses a -disk value.
func ParseDiskSpec(s string) (DiskSpec, error) { return disk.ParseSpec(s) }

// setupDisks opens each -disk and plugs it into PCI bus 0: a virtio-blk
// device with MSI-X, ioeventfd notifications and an INTx fallback for each
// if=virtio disk, then one IDE controller for the if=ide disks.
func (m *Machine) setupDisks() error {
	for _, spec := range m.cfg.Disks {
		if spec.Interface != disk.Virtio {
			continue
		}
		slot := firstDiskSlot + len(m.disks)
		d := &virtioDisk{spec: spec, msi: &msiRouter{m: m, vectors: map[int]*msiVector{}}}
		m.disks = append(m.disks, d)
		dev, err := blk.Open(spec, m.log)
		if err != nil {
			return &InputError{Err: err} // blk's errors name the disk
		}
		d.dev = dev
		p, err := virtio.NewPCI(dev, virtio.PCIOptions{
			Memory:   m.mem,
			Notifier: ioeventNotifier{vm: m.vm},
			MSI:      d.msi,
			INTx:     m.intx.line(intxGSI(slot), slot),
			Logger:   m.log,
		})
		if err != nil {
			return fmt.Errorf("-disk %s: %w", spec.Path, err)
		}
		d.pci = p
		if err := m.pci.AddAt(slot, p); err != nil {
			return fmt.Errorf("-disk %s: %w", spec.Path, err)
		}
	}
	return m.setupIDE(firstDiskSlot + len(m.disks))
}

// flushDisks stops every disk's workers and fdatasyncs its image, so that
// whatever the guest wrote is on the host's disk before gonest exits.
func (m *Machine) flushDisks() error {
	var errs []error
	for _, d := range m.disks {
		errs = append(errs, d.Close())
	}
	if m.ide != nil {
		errs = append(errs, m.ide.Close())
	}
	return errors.Join(errs...)
}
