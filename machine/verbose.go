package machine

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/gonest/gonest/devices"
)

// logBoard tells, at debug level (gonest run -v), what New built: the VM,
// the loaded kernel, every device on the buses and every disk. A learner
// sees the whole machine before its first instruction; a bug report
// carries it.
func (m *Machine) logBoard() {
	if !m.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	nested := m.policy.NestedExposed()
	if nested == "" {
		nested = "none"
	}
	m.log.Debug("vm created", "backend", string(m.backend), "memory", FormatSize(m.cfg.MemSize),
		"vcpus", m.cfg.CPUs, "nested_exposed", nested)
	if l := m.loaded; l != nil {
		args := []any{"format", l.Format.String(), "entry", fmt.Sprintf("%#x", l.CPU.RIP)}
		for _, k := range l.Kernel {
			args = append(args, "kernel_at", span(k.Addr, k.Size))
		}
		if l.Initrd.Size > 0 {
			args = append(args, "initrd_at", span(l.Initrd.Addr, l.Initrd.Size))
		}
		args = append(args, "boot_params", fmt.Sprintf("%#x", l.BootParams), "acpi_at", span(l.ACPI.Addr, l.ACPI.Size),
			"e820_entries", len(l.E820))
		m.log.Debug("kernel loaded", args...)
		m.log.Debug("command line", "cmdline", strings.TrimRight(m.cfg.Cmdline(), "\x00"))
	}
	for _, bus := range []*devices.Bus{m.pio, m.mmio} {
		for _, mp := range bus.Mappings() {
			m.log.Debug("device", "bus", bus.Name(), "at", span(mp.Base, mp.Size), "name", mp.Name)
		}
	}
	for _, d := range m.disks {
		m.log.Debug("disk", "path", d.spec.Path, "read_only", d.spec.ReadOnly, "sectors", d.dev.Capacity(),
			"pci_slot", slotOf(d.fn))
	}
	m.logIDE()
	m.describeShares()
}

// span prints a guest range as base+size in hex.
func span(base, size uint64) string { return fmt.Sprintf("%#x+%#x", base, size) }
