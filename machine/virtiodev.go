package machine

import (
	"errors"
	"fmt"

	"github.com/gonest/gonest/devices/virtio"
)

// firstSlot is the PCI slot of the first device; slot 0 is the host
// bridge. Devices take consecutive slots in this order: the if=virtio disks
// in -disk order, the IDE controller (when there are if=ide disks), the
// shares in -fs order, the console.
const firstSlot = 1

// takeSlot returns the next free slot of PCI bus 0.
func (m *Machine) takeSlot() int {
	slot := max(m.nextSlot, firstSlot)
	m.nextSlot = slot + 1
	return slot
}

// virtioFn is a virtio device's PCI function on bus 0: the transport and
// its MSI-X interrupts.
type virtioFn struct {
	slot int
	pci  *virtio.PCI
	msi  *msiRouter
}

// plugVirtio puts backend on the next free slot of PCI bus 0 behind a
// virtio-pci transport with MSI-X, ioeventfd notifications and an INTx
// fallback. what names the device in errors.
func (m *Machine) plugVirtio(what string, backend virtio.Backend) (*virtioFn, error) {
	slot := m.takeSlot()
	fn := &virtioFn{slot: slot, msi: &msiRouter{m: m, vectors: map[int]*msiVector{}}}
	p, err := virtio.NewPCI(backend, virtio.PCIOptions{
		Memory:   m.mem,
		Notifier: ioeventNotifier{vm: m.vm},
		MSI:      fn.msi,
		INTx:     m.intx.line(intxGSI(slot), slot),
		Logger:   m.log,
	})
	if err != nil {
		return fn, fmt.Errorf("%s: %w", what, err)
	}
	fn.pci = p
	if err := m.pci.AddAt(slot, p); err != nil {
		return fn, fmt.Errorf("%s: %w", what, err)
	}
	return fn, nil
}

// close stops the backend's workers (through the transport) and releases
// the interrupt routes. The backend itself stays open for its owner.
func (f *virtioFn) close() error {
	if f == nil {
		return nil
	}
	var errs []error
	if f.pci != nil {
		errs = append(errs, f.pci.Close())
		f.pci = nil
	}
	if f.msi != nil {
		errs = append(errs, f.msi.Close())
		f.msi = nil
	}
	return errors.Join(errs...)
}
