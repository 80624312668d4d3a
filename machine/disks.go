package machine

import (
	"errors"
	"fmt"

	"github.com/gonest/gonest/devices/disk"
	"github.com/gonest/gonest/devices/virtio/blk"
)

// virtioDisk is one if=virtio -disk: the image and its PCI function.
type virtioDisk struct {
	spec DiskSpec
	dev  *blk.Device
	fn   *virtioFn
}

// Close stops the device's workers, then flushes and closes the image.
func (d *virtioDisk) Close() error {
	errs := []error{d.fn.close()}
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
		d := &virtioDisk{spec: spec}
		m.disks = append(m.disks, d)
		dev, err := blk.Open(spec, m.log)
		if err != nil {
			return &InputError{Err: err} // blk's errors name the disk
		}
		d.dev = dev
		if d.fn, err = m.plugVirtio("-disk "+spec.Path, dev); err != nil {
			return err
		}
	}
	return m.setupIDE()
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
