package machine

import "fmt"

// disk is one virtio-blk device. (wired up with package virtio)
type disk struct{}

func (d *disk) Close() error { return nil }

// ParseDiskSpec parses -disk PATH[,ro].
func ParseDiskSpec(s string) (DiskSpec, error) { return DiskSpec{Path: s}, nil }

func (m *Machine) setupDisks() error {
	if len(m.cfg.Disks) > 0 {
		return fmt.Errorf("-disk: not wired yet")
	}
	return nil
}

func (m *Machine) flushDisks() error { return nil }
