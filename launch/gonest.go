package launch

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/gonest/gonest/guestabi"
)

// statsFile is where Run has gonest write -stats-json, in the run's
// directory.
const statsFile = "stats.json"

// Gonest runs a Spec with `gonest run`. Its guest's messages and markers
// come back through -messages on a pipe; its exit status is the guest's
// exit-port byte.
type Gonest struct {
	// Binary is the gonest executable; "gonest" from $PATH when empty.
	Binary string
	// Forward passes the guest's markers and messages on to this
	// machine's own ports (gonest run -forward), for a gonest that runs
	// inside a guest whose VMM reads them.
	Forward bool
	// Verbose logs what the VMM does (gonest run -v) on its stderr.
	Verbose bool
}

// Name implements VMM.
func (Gonest) Name() string { return "gonest" }

func (g Gonest) binary() string {
	if g.Binary == "" {
		return "gonest"
	}
	return g.Binary
}

// Check implements VMM.
func (g Gonest) Check(*Spec) error {
	if _, err := exec.LookPath(g.binary()); err != nil {
		return fmt.Errorf("%w; build it with `make build` (bin/gonest) or set Gonest.Binary", err)
	}
	return nil
}

// Command implements VMM.
func (g Gonest) Command(ctx context.Context, s *Spec, w *Wiring) (*exec.Cmd, error) {
	mem, err := FormatMemory(s.Memory)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, g.binary())
	messages, err := w.MessagePipe(cmd)
	if err != nil {
		return nil, err
	}
	args := []string{"run", "-m", mem, "-kernel", s.Kernel}
	if s.Initrd != "" {
		args = append(args, "-initrd", s.Initrd)
	}
	if s.CPUs > 1 {
		args = append(args, "-smp", strconv.Itoa(s.CPUs))
	}
	for _, d := range s.Disks {
		args = append(args, "-disk", diskSpec(d))
	}
	if s.Nested != "" {
		args = append(args, "-nested", s.Nested)
	}
	if s.Stats {
		args = append(args, "-stats")
	}
	if s.StatsJSON {
		args = append(args, "-stats-json", filepath.Join(w.Dir(), statsFile))
	}
	if s.NestedState {
		args = append(args, "-nested-state")
	}
	if s.Window != "" {
		args = append(args, "-window", s.Window)
	}
	if s.TraceExits {
		args = append(args, "-trace-exits")
	}
	if s.StatsInterval > 0 {
		args = append(args, "-stats-interval", s.StatsInterval.String())
	}
	if s.Timeout > 0 {
		args = append(args, "-timeout", s.vmmTimeout().String())
	}
	args = append(args, "-messages", messages)
	if g.Forward {
		args = append(args, "-forward")
	}
	if g.Verbose {
		args = append(args, "-v")
	}
	if c := s.GuestCmdline(); c != "" {
		args = append(args, "-append", c)
	}
	cmd.Args = append(cmd.Args, args...)
	return cmd, nil
}

// diskSpec is a Disk as gonest's -disk takes it.
func diskSpec(d Disk) string {
	s := d.Path
	if d.ReadOnly {
		s += ",ro"
	}
	if d.Serial != "" {
		s += ",serial=" + d.Serial
	}
	if d.IDE {
		s += ",if=ide"
	}
	return s
}

// Decode implements VMM: gonest exits with the byte its guest wrote to the
// exit port. 0 to 127 are verdicts (a verdict stays below 128 so that
// QEMU's (v<<1)|1 fits a status); 128 and up are signals.
func (Gonest) Decode(status int) (guestabi.Verdict, bool) {
	if status < 0 || status > 0x7f {
		return 0, false
	}
	return guestabi.Verdict(status), true
}
