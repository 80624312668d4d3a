package launch

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gonest/gonest/guestabi"
)

// Spec describes one VM run.
type Spec struct {
	VMM    VMM    // required: Gonest{}, QEMU{}, or another implementation
	Kernel string // required: a bzImage, or an ELF vmlinux for VMMs that take one
	Initrd string // optional initramfs
	// Append is more kernel command line; it follows the VMM's defaults
	// (boot.DefaultCmdline) and the gonest-init parameters below.
	Append string
	Memory uint64 // guest RAM in bytes, a whole number of MiB; required
	CPUs   int    // vCPUs; 1 when zero
	Disks  []Disk
	// Nested is gonest's -nested mode ("auto", "on", "off"); empty keeps
	// the VMM's default.
	Nested string
	// Timeout bounds the run: Run kills the VMM when it passes. A VMM with
	// a timeout of its own gets 90% of it (gonest -timeout), so it stops
	// its guest and reports first. Zero means none but ctx's.
	Timeout time.Duration

	// Stats prints the VMM's statistics table on its diagnostics at exit
	// (gonest -stats). StatsJSON collects them into Result.Stats; with
	// NestedState, each vCPU's nested state too (gonest -nested-state).
	Stats, StatsJSON, NestedState bool
	// Window measures between two guest markers (gonest -window OPEN..CLOSE),
	// and TraceExits adds this level's KVM exit tracepoints to each window
	// (gonest -trace-exits); with StatsJSON, Result.Stats.Windows holds
	// them. Signalling the VMM with SIGUSR1 (Process.Signal) reads the
	// vCPUs' nested state while it runs, into Result.Stats.NestedStates.
	Window     string
	TraceExits bool
	// StatsInterval samples the counters at this interval while the
	// guest runs (gonest -stats-interval): a row each on the VMM's
	// diagnostics, and with StatsJSON, Result.Stats.Series. Zero samples
	// nothing.
	StatsInterval time.Duration

	// Level names the guest: the console prefix ("[G1] ") and, with a
	// Scenario, gonest.level. "guest" when empty.
	Level string
	// Scenario, when set, is the guest's gonest.scenario: the guest runs
	// gonest-init, which gets gonest.level=Level too.
	Scenario string
	// Params are more kernel parameters for gonest-init (gonest.next,
	// gonest.code, ...), written key=value in key order before Append.
	Params map[string]string
	// GuestTimeout becomes gonest.timeout: the guest's own deadline, which
	// should come before Timeout so that it reports instead of being
	// killed. Zero adds nothing.
	GuestTimeout time.Duration
	// GuestReports says the guest reports its verdict in a message, as
	// gonest-init does: a VMM that exits before that message came gives no
	// verdict, whatever its status. Without it (a tiny guest, a user's
	// own), the decoded exit status is the verdict.
	GuestReports bool

	Stdin   io.Reader // the guest's console input; none when nil
	Console io.Writer // the guest's console, prefixed lines; discarded when nil
	// VMMLog gets the VMM's own output (its stderr: warnings, -stats
	// tables, errors), unprefixed; Console when nil.
	VMMLog io.Writer
	// Interactive gives the VMM this process's stdin, stdout and stderr as
	// they are: no prefixes, no tails, no console observer.
	Interactive bool
	// TailLines is how many lines per level Result.Tails keeps;
	// DefaultTailLines when zero.
	TailLines int
}

// Disk is a disk image the VMM attaches as a virtio-blk device, or as an
// ATA drive on gonest's IDE controller.
type Disk struct {
	Path     string
	ReadOnly bool   // virtio-blk: the guest sees a read-only disk (VIRTIO_BLK_F_RO); IDE: writes fail
	Serial   string // the serial the guest reads (virtio: VIRTIO_BLK_T_GET_ID; IDE: IDENTIFY), at most 20 bytes
	// IDE attaches the disk to gonest's emulated PCI IDE controller
	// (-disk ...,if=ide: ATA PIO, Linux's ata_piix) instead of virtio-blk.
	IDE bool
}

// DefaultTailLines is how many console lines per level a Result keeps.
const DefaultTailLines = 40

// DefaultLevel names a guest whose Spec.Level is empty.
const DefaultLevel = "guest"

// SpecError is Run's error for a spec that cannot start: it names the
// field, and nothing was started.
type SpecError struct {
	Field string // "Kernel", "Memory", "VMM", ...
	Err   error
}

func (e *SpecError) Error() string { return fmt.Sprintf("launch: %s: %v", e.Field, e.Err) }
func (e *SpecError) Unwrap() error { return e.Err }

func specErrorf(field, format string, args ...any) error {
	return &SpecError{Field: field, Err: fmt.Errorf(format, args...)}
}

// check validates what does not depend on the VMM.
func (s *Spec) check() error {
	if s.VMM == nil {
		return specErrorf("VMM", "none given; use launch.Gonest{}, launch.QEMU{} or another VMM")
	}
	if s.Kernel == "" {
		return specErrorf("Kernel", "no kernel given")
	}
	for _, f := range []struct{ field, path string }{{"Kernel", s.Kernel}, {"Initrd", s.Initrd}} {
		if f.path == "" {
			continue
		}
		if st, err := os.Stat(f.path); err != nil {
			return &SpecError{Field: f.field, Err: err}
		} else if !st.Mode().IsRegular() {
			return specErrorf(f.field, "%s is not a regular file", f.path)
		}
	}
	if _, err := FormatMemory(s.Memory); err != nil {
		return &SpecError{Field: "Memory", Err: err}
	}
	if s.CPUs < 0 {
		return specErrorf("CPUs", "%d: want 1 or more (0 means 1)", s.CPUs)
	}
	for i, d := range s.Disks {
		if _, err := os.Stat(d.Path); err != nil {
			return &SpecError{Field: fmt.Sprintf("Disks[%d]", i), Err: err}
		}
		if len(d.Serial) > 20 || strings.ContainsAny(d.Serial, ", \t\n\"") || strings.Contains(d.Path, ",") {
			return specErrorf(fmt.Sprintf("Disks[%d]", i), "serial %q or path %q: at most 20 bytes of serial, no commas or spaces", d.Serial, d.Path)
		}
	}
	switch s.Nested {
	case "", "auto", "on", "off":
	default:
		return specErrorf("Nested", "%q: want auto, on, off or empty", s.Nested)
	}
	if strings.ContainsAny(s.Window, "\n\x00") {
		return specErrorf("Window", "holds a newline or a NUL byte")
	}
	if s.StatsInterval < 0 {
		return specErrorf("StatsInterval", "negative")
	}
	if s.Timeout < 0 || s.GuestTimeout < 0 {
		return specErrorf("Timeout", "negative")
	}
	if strings.ContainsAny(s.Level, " []\"\n") || strings.ContainsAny(s.Scenario, " \"\n") {
		return specErrorf("Scenario", "level %q or scenario %q holds a space, a quote or a bracket", s.Level, s.Scenario)
	}
	for k, v := range s.Params {
		if k == "" || strings.ContainsAny(k, " =\"\n") || strings.ContainsAny(v, "\"\n") {
			return specErrorf("Params", "%s=%q: a key without spaces or '=', a value without quotes or newlines", k, v)
		}
	}
	if strings.Contains(s.Append, "\n") {
		return specErrorf("Append", "holds a newline")
	}
	return nil
}

// level is the guest's level name.
func (s *Spec) level() string {
	if s.Level == "" {
		return DefaultLevel
	}
	return s.Level
}

// cpus is the vCPU count.
func (s *Spec) cpus() int { return max(s.CPUs, 1) }

// GuestCmdline is what a VMM appends to its own default kernel command
// line: with a Scenario, gonest.scenario, gonest.level and gonest.timeout;
// then Params in key order; then Append.
func (s *Spec) GuestCmdline() string {
	var parts []string
	if s.Scenario != "" {
		parts = append(parts, guestabi.ParamScenario+"="+s.Scenario, guestabi.ParamLevel+"="+s.level())
	}
	if s.GuestTimeout > 0 {
		parts = append(parts, guestabi.ParamTimeout+"="+s.GuestTimeout.Truncate(time.Second).String())
	}
	keys := make([]string, 0, len(s.Params))
	for k := range s.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := s.Params[k]
		if v == "" || strings.ContainsAny(v, " \t") {
			v = strconv.Quote(v)
		}
		parts = append(parts, k+"="+v)
	}
	if s.Append != "" {
		parts = append(parts, s.Append)
	}
	return strings.Join(parts, " ")
}

// vmmTimeout is the timeout a VMM that has its own gets: 90% of Timeout,
// in whole seconds when that is at least one.
func (s *Spec) vmmTimeout() time.Duration {
	d := s.Timeout * 9 / 10
	if d >= time.Second {
		d = d.Truncate(time.Second)
	}
	return d
}

// FormatMemory renders a memory size as VMMs take it: "512M", "2G".
func FormatMemory(n uint64) (string, error) {
	switch {
	case n == 0:
		return "", fmt.Errorf("zero: give the guest's memory, e.g. 512 << 20")
	case n%(1<<30) == 0:
		return fmt.Sprintf("%dG", n>>30), nil
	case n%(1<<20) == 0:
		return fmt.Sprintf("%dM", n>>20), nil
	}
	return "", fmt.Errorf("%d bytes: want a whole number of MiB", n)
}

// ParseMemory reads a size as gonest's -m takes it: "512M", "2G", a bare
// number of MiB.
func ParseMemory(s string) (uint64, error) {
	num, unit := s, uint64(1<<20)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'K', 'k':
			num, unit = s[:n-1], 1<<10
		case 'M', 'm':
			num = s[:n-1]
		case 'G', 'g':
			num, unit = s[:n-1], 1<<30
		case 'T', 't':
			num, unit = s[:n-1], 1<<40
		}
	}
	v, err := strconv.ParseUint(num, 10, 64)
	if err != nil || v == 0 || v > (1<<63)/unit {
		return 0, fmt.Errorf("memory %q: want a size such as 512M or 2G", s)
	}
	return v * unit, nil
}
