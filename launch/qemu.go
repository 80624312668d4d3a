package launch

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/guestabi"
)

// QEMU runs a Spec with qemu-system-x86_64 on this level's KVM: by default
// a microvm with the host's CPU, the console on stdio, isa-debug-exit
// where gonest has its exit device and isa-debugcon on the marker and
// message ports, so the same guest reports the same way under both VMMs.
// Disks are virtio-blk-pci (use Machine "microvm,pcie=on" with disks).
type QEMU struct {
	Binary  string // "qemu-system-x86_64" from $PATH when empty
	Machine string // -M; "microvm" when empty
	// Loader, when set, runs Binary through this command, Binary and
	// QEMU's arguments following it: the dynamic loader of a QEMU unpacked
	// away from / with its libraries ({"DIR/lib64/ld-linux-x86-64.so.2",
	// "--library-path", "DIR/lib/x86_64-linux-gnu:..."}).
	Loader []string
	// DataDir is where QEMU finds its firmware (-L); QEMU's own default
	// when empty.
	DataDir string
}

// Name implements VMM.
func (QEMU) Name() string { return "qemu" }

func (q QEMU) binary() string {
	if q.Binary == "" {
		return "qemu-system-x86_64"
	}
	return q.Binary
}

// Check implements VMM: the binary, and no gonest-only field.
func (q QEMU) Check(s *Spec) error {
	if _, err := exec.LookPath(q.binary()); err != nil {
		return fmt.Errorf("%w; install it with `apt-get install -y qemu-system-x86`", err)
	}
	if len(q.Loader) > 0 {
		if _, err := exec.LookPath(q.Loader[0]); err != nil {
			return fmt.Errorf("loader: %w", err)
		}
	}
	if s.Stats || s.StatsJSON || s.NestedState || s.Window != "" || s.TraceExits || s.StatsInterval > 0 {
		return &SpecError{Field: "Stats", Err: errors.New("statistics and windows are gonest's (-stats, -window); QEMU has none here")}
	}
	for i, d := range s.Disks {
		if d.IDE {
			return &SpecError{Field: fmt.Sprintf("Disks[%d]", i), Err: errors.New("IDE is gonest's -disk ...,if=ide here; QEMU gets virtio-blk disks")}
		}
	}
	if s.Nested != "" && s.Nested != "auto" {
		return &SpecError{Field: "Nested", Err: fmt.Errorf("%q is gonest's -nested; QEMU passes the host CPU as it is", s.Nested)}
	}
	return nil
}

// Command implements VMM.
func (q QEMU) Command(ctx context.Context, s *Spec, w *Wiring) (*exec.Cmd, error) {
	mem, err := FormatMemory(s.Memory)
	if err != nil {
		return nil, err
	}
	machine := q.Machine
	if machine == "" {
		machine = "microvm"
	}
	markers, messages, err := w.DebugconSockets()
	if err != nil {
		return nil, err
	}
	args := []string{"-M", machine, "-enable-kvm", "-cpu", "host", "-m", mem, "-smp", strconv.Itoa(s.cpus()),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-serial", "stdio", "-monitor", "none"}
	if q.DataDir != "" {
		args = append(args, "-L", q.DataDir)
	}
	args = append(args, "-kernel", s.Kernel)
	if s.Initrd != "" {
		args = append(args, "-initrd", s.Initrd)
	}
	args = append(args, "-append", strings.TrimSpace(boot.DefaultCmdline+" "+s.GuestCmdline()))
	args = append(args, QEMUReportArgs(markers, messages)...)
	for i, d := range s.Disks {
		id := fmt.Sprintf("disk%d", i)
		drive := fmt.Sprintf("file=%s,if=none,id=%s,format=raw", d.Path, id)
		if d.ReadOnly {
			drive += ",readonly=on"
		}
		dev := "virtio-blk-pci,drive=" + id
		if d.Serial != "" {
			dev += ",serial=" + d.Serial
		}
		args = append(args, "-drive", drive, "-device", dev)
	}
	// QEMU has no timeout of its own: Run kills it at Spec.Timeout.
	if len(q.Loader) > 0 {
		args = append(append(append([]string{}, q.Loader[1:]...), q.binary()), args...)
		return exec.CommandContext(ctx, q.Loader[0], args...), nil
	}
	return exec.CommandContext(ctx, q.binary(), args...), nil
}

// Decode implements VMM: isa-debug-exit makes QEMU exit with (v<<1)|1, so
// only odd statuses carry a verdict; 0 is a guest that powered off,
// rebooted or panicked without writing one, and QEMU's own errors exit 1.
func (QEMU) Decode(status int) (guestabi.Verdict, bool) { return DecodeQEMUStatus(status) }

// DecodeQEMUStatus turns a QEMU exit status into the verdict the guest
// wrote to isa-debug-exit.
func DecodeQEMUStatus(status int) (guestabi.Verdict, bool) {
	if status <= 0 || status > 0xff || status&1 == 0 {
		return 0, false
	}
	return guestabi.Verdict((status - 1) / 2), true
}

// QEMUReportArgs are the QEMU devices through which a guest reports as it
// does under gonest: isa-debug-exit on guestabi.ExitPort, and isa-debugcon
// on the marker and message ports writing to the Unix sockets markers and
// messages (either may be "" for none).
func QEMUReportArgs(markers, messages string) []string {
	args := []string{"-device", fmt.Sprintf("isa-debug-exit,iobase=0x%x,iosize=0x04", guestabi.ExitPort)}
	args = append(args, QEMUDebugcon("markers", guestabi.MarkerPort, markers)...)
	return append(args, QEMUDebugcon("messages", guestabi.MessagePort, messages)...)
}

// QEMUDebugcon is an isa-debugcon on port that writes to the Unix socket
// sock, under the chardev id; nothing when sock is "".
func QEMUDebugcon(id string, port int, sock string) []string {
	if sock == "" {
		return nil
	}
	return []string{"-chardev", "socket,id=" + id + ",path=" + sock,
		"-device", fmt.Sprintf("isa-debugcon,iobase=0x%x,chardev=%s", port, id)}
}
