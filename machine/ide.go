package machine

import (
	"fmt"

	"github.com/gonest/gonest/devices/disk"
	"github.com/gonest/gonest/devices/ide"
)

// ideDisks returns the if=ide disks in -disk order: primary master,
// primary slave, secondary master, secondary slave.
func ideDisks(specs []DiskSpec) []DiskSpec {
	var out []DiskSpec
	for _, s := range specs {
		if s.Interface == disk.IDE {
			out = append(out, s)
		}
	}
	return out
}

// checkIDEDisks refuses more if=ide disks than the controller has places.
func checkIDEDisks(specs []DiskSpec) error {
	if n := len(ideDisks(specs)); n > ide.MaxDrives {
		return inputErrorf("-disk ...,if=ide: %d disks, but the IDE controller takes %d (%d channels, master and slave); attach the others with if=virtio",
			n, ide.MaxDrives, ide.NumChannels)
	}
	return nil
}

// setupIDE opens the if=ide disks and plugs the IDE controller into the
// next free PCI slot, its INTA# routed like any slot's.
func (m *Machine) setupIDE() error {
	specs := ideDisks(m.cfg.Disks)
	if len(specs) == 0 {
		return nil
	}
	slot := m.takeSlot()
	var drives []ide.Backend
	closeAll := func() {
		for _, d := range drives {
			d.Close()
		}
	}
	for _, spec := range specs {
		img, err := disk.Open(spec, m.log)
		if err != nil {
			closeAll()
			return &InputError{Err: err} // disk's errors name the disk
		}
		drives = append(drives, img)
	}
	ctl, err := ide.New(ide.Config{Drives: drives, INTx: m.intx.line(intxGSI(slot), slot), Logger: m.log})
	if err != nil {
		closeAll()
		return &InputError{Err: err}
	}
	m.ide, m.ideSlot = ctl, slot
	if err := m.pci.AddAt(slot, ctl); err != nil {
		return fmt.Errorf("ide controller: %w", err)
	}
	return nil
}

// logIDE tells, at debug level, where each if=ide disk sits.
func (m *Machine) logIDE() {
	for i, spec := range ideDisks(m.cfg.Disks) {
		place := [ide.MaxDrives]string{"primary master", "primary slave", "secondary master", "secondary slave"}[i]
		m.log.Debug("disk", "path", spec.Path, "read_only", spec.ReadOnly, "interface", "ide", "place", place,
			"pci_slot", m.ideSlot)
	}
}
