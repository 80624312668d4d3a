package machine

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/vcpu"
)

// Defaults of gonest run.
const (
	DefaultMemSize = 512 << 20
	DefaultCPUs    = 1
	// MinMemSize is the least memory gonest accepts before looking at the
	// kernel; Load then checks that kernel and initrd really fit.
	MinMemSize = 16 << 20
	// MaxCPUs is the most vCPUs gonest wires (APIC IDs and MADT entries
	// are one byte).
	MaxCPUs = 254
)

// Config describes the machine to build.
type Config struct {
	Kernel string // path to a bzImage or an ELF vmlinux
	Initrd string // path to an initramfs, or ""
	Append string // added after the default kernel command line

	MemSize uint64 // bytes of guest RAM
	CPUs    int    // vCPUs
	Nested  vcpu.Nested

	Disks []DiskSpec
	// Shares are host directories served over virtio-fs, a device each.
	Shares []ShareSpec
	// Ports are the virtio-console's named ports; none: no console device.
	Ports []PortConfig

	// Timeout ends the run with ExitTimeout after this long (0: never).
	Timeout time.Duration

	// Console is the guest's serial console. Out receives what the guest
	// prints; In, if not nil, is fed to the guest.
	ConsoleIn  io.Reader
	ConsoleOut io.Writer

	// KVMPath is the KVM device, /dev/kvm when empty.
	KVMPath string

	// Logger receives the VMM's own messages; nil discards them.
	Logger *slog.Logger

	// OnMarker, if set, is called for each timing marker the guest writes.
	OnMarker func(Marker)
	// OnMessage, if set, is called for each valid message line the guest
	// writes to the message port (guestabi.MessagePort), on the vCPU
	// thread: it must not block. Lines that are not messages are dropped.
	OnMessage func(guestabi.Message)
}

// Cmdline is the kernel command line the guest gets.
func (c *Config) Cmdline() string { return boot.Cmdline(c.Append) }

// validate checks what can be checked without opening anything.
func (c *Config) validate() error {
	if c.Kernel == "" {
		return inputErrorf("no kernel: give -kernel PATH (a bzImage or vmlinux)")
	}
	if c.CPUs < 1 || c.CPUs > MaxCPUs {
		return inputErrorf("-smp %d: want 1 to %d vCPUs", c.CPUs, MaxCPUs)
	}
	if c.MemSize < MinMemSize {
		return inputErrorf("-m %s: too little memory, gonest needs at least %dM", FormatSize(c.MemSize), MinMemSize>>20)
	}
	if c.MemSize%boot.PageSize != 0 {
		return inputErrorf("-m %s: memory must be a multiple of 4K", FormatSize(c.MemSize))
	}
	if c.MemSize > boot.MaxMemSize {
		return inputErrorf("-m %s: at most %s", FormatSize(c.MemSize), FormatSize(boot.MaxMemSize))
	}
	if err := checkIDEDisks(c.Disks); err != nil {
		return err
	}
	return c.checkShares()
}

// FormatSize renders a byte count the way users type it in -m: 512M, 2G.
func FormatSize(n uint64) string {
	switch {
	case n >= 1<<40 && n%(1<<40) == 0:
		return fmt.Sprintf("%dT", n>>40)
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dG", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dM", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dK", n>>10)
	}
	return fmt.Sprintf("%d", n)
}
