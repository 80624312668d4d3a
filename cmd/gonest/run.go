package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gonest/gonest/console"
	"github.com/gonest/gonest/devices/virtio/vconsole"
	"github.com/gonest/gonest/doctor"
	"github.com/gonest/gonest/hostinfo"
	"github.com/gonest/gonest/machine"
	"github.com/gonest/gonest/vcpu"
)

const runUsage = `Usage: gonest run -kernel PATH [-initrd PATH] [flags]

Boot a Linux guest. Its serial console (ttyS0) is this terminal: Ctrl-A X
quits, Ctrl-A Ctrl-A sends Ctrl-A. With stdin not a terminal, input and
output are plain streams, so a CI pipe works.

Flags:
%s
Exit codes: 0 poweroff or reboot; N the guest wrote N to the exit port
(I/O port 0xf4); 1 guest crash (a register dump follows) or VMM error;
2 bad flags or input; 124 -timeout; 130 SIGINT; 143 SIGTERM; 129 SIGHUP;
141 SIGPIPE (whoever read stdout went away).

Examples:
  gonest run -kernel images/out/vmlinuz -initrd images/out/g1.cpio
  gonest run -kernel vmlinuz -initrd g1.cpio -m 1G -smp 2 -append "quiet"
  gonest run -kernel vmlinuz -initrd ci.cpio -timeout 5m -disk data.ext4 -disk base.img,ro
  gonest run -kernel vmlinuz -initrd g1.cpio -nested off    # hide SVM/VMX from the guest
  gonest run -kernel vmlinuz -initrd g1.cpio -disk old.img,if=ide   # an ATA disk (Linux: ata_piix, /dev/sda)
  gonest run -kernel vmlinuz -initrd g1.cpio -fs $PWD,tag=work -fs /usr,tag=usr,ro,cache=1h
      # in the guest: modprobe virtiofs; mount -t virtiofs work /mnt
  gonest run -kernel vmlinuz -initrd g1.cpio -port data,in=input.bin,out=output.bin -port log,out=fd:3 3>guest.log
      # in the guest: /dev/vportNpM, named in /sys/class/virtio-ports/vportNpM/name
`

// listFlag collects the values of a repeated flag, each parsed by parse.
type listFlag[T any] struct {
	v     *[]T
	parse func(string) (T, error)
}

func (f listFlag[T]) String() string { return "" }

func (f listFlag[T]) Set(s string) error {
	v, err := f.parse(s)
	if err == nil {
		*f.v = append(*f.v, v)
	}
	return err
}

// valueFlag is a flag.Value of type T, parsed by parse (whose error is
// the whole message after "invalid value ... for flag -x:") and shown by
// format.
type valueFlag[T any] struct {
	v      *T
	parse  func(string) (T, error)
	format func(T) string
}

func (f valueFlag[T]) String() string {
	if f.v == nil {
		return ""
	}
	return f.format(*f.v)
}

func (f valueFlag[T]) Set(s string) error {
	v, err := f.parse(s)
	if err == nil {
		*f.v = v
	}
	return err
}

// sizeValue is -m: 512M, 2G, a bare number of MiB.
func sizeValue(v *uint64) valueFlag[uint64] {
	return valueFlag[uint64]{v, parseSize, machine.FormatSize}
}

// cpusValue is -smp: a whole number, with a message that says so.
func cpusValue(v *int) valueFlag[int] {
	return valueFlag[int]{v, func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, fmt.Errorf("want a whole number of vCPUs, such as 2")
		}
		return n, nil
	}, strconv.Itoa}
}

// durationValue is -timeout: a Go duration, with a message that says so.
func durationValue(v *time.Duration) valueFlag[time.Duration] {
	return valueFlag[time.Duration]{v, func(s string) (time.Duration, error) {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("want a duration with a unit, such as 90s or 5m")
		}
		return d, nil
	}, time.Duration.String}
}

// runOptions are gonest run's parsed flags.
type runOptions struct {
	cfg         machine.Config
	stats       bool
	statsJSON   string
	nestedState bool
	verbose     bool
	forward     bool
	messages    string
	anatomy     anatomyOptions
	ports       []vconsole.PortSpec
}

// parseRunFlags parses gonest run's flags. -h returns flag.ErrHelp.
func parseRunFlags(args []string, stdout io.Writer) (*runOptions, error) {
	o := &runOptions{cfg: machine.Config{MemSize: machine.DefaultMemSize, CPUs: machine.DefaultCPUs}}
	fs := flag.NewFlagSet("gonest run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	nested := "auto"
	fs.StringVar(&o.cfg.Kernel, "kernel", "", "kernel `PATH`: a bzImage or an uncompressed ELF vmlinux (required)")
	fs.StringVar(&o.cfg.Initrd, "initrd", "", "initramfs `PATH` (cpio, optionally compressed)")
	fs.StringVar(&o.cfg.Append, "append", "", "extra kernel command line, added after gonest's console defaults")
	fs.Var(sizeValue(&o.cfg.MemSize), "m", "guest memory `SIZE`, e.g. 512M or 2G (a bare number means MiB)")
	fs.Var(cpusValue(&o.cfg.CPUs), "smp", "number of vCPUs")
	fs.Var(durationValue(&o.cfg.Timeout), "timeout", "stop the guest and exit 124 after this `DURATION` (e.g. 90s, 5m; 0 = never)")
	fs.StringVar(&nested, "nested", "auto", "`MODE`: auto passes the host's VMX/SVM to the guest when KVM offers it, on requires it, off hides it")
	fs.Var(listFlag[machine.DiskSpec]{&o.cfg.Disks, machine.ParseDiskSpec}, "disk", "disk image `PATH[,ro][,serial=ID][,if=virtio|ide]`: virtio-blk, or with if=ide a drive on the emulated IDE controller (ATA PIO, 4 at most); repeat for more disks")
	fs.Var(listFlag[machine.ShareSpec]{&o.cfg.Shares, machine.ParseShareSpec}, "fs", "share host directory `DIR,tag=TAG[,ro][,cache=DURATION]` over virtio-fs; the guest mounts it with mount -t virtiofs TAG /mnt; cache: how long the guest trusts names and attributes (default 1s); repeat for more")
	fs.Var(listFlag[vconsole.PortSpec]{&o.ports, vconsole.ParsePortSpec}, "port", "virtio-console port `NAME[,in=PATH|fd:N][,out=PATH|fd:N]`: in= is sent to the guest, the guest's writes go to out=; repeat for more")
	fs.BoolVar(&o.stats, "stats", false, "print exit statistics, KVM counters and the boot timeline at exit")
	fs.StringVar(&o.statsJSON, "stats-json", "", "write the statistics as JSON to `FILE` at exit (- for stderr)")
	fs.BoolVar(&o.nestedState, "nested-state", false, "print the decoded KVM_GET_NESTED_STATE of each vCPU at exit")
	fs.BoolVar(&o.verbose, "v", false, "log what the VMM does to stderr: kernel placement, devices, disks, PCI BARs and virtio setup as the guest does it, how it stopped")
	fs.StringVar(&o.messages, "messages", "", "write the guest's message lines (port 0xe9) and boot markers to `FILE`, one message a line (an inherited pipe: /proc/self/fd/3)")
	fs.BoolVar(&o.forward, "forward", false, "pass the guest's boot markers and messages on to this machine's own ports 0xf8 and 0xe9, one level deeper (gonest inside a guest; needs root)")
	o.anatomy.addFlags(fs)
	if err := parseFlags(fs, args, stdout, runUsage); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usagef("gonest run: %v (see gonest run -h)", err)
	}
	if fs.NArg() > 0 {
		return nil, usagef("gonest run: unexpected argument %q (flags start with -; see gonest run -h)", fs.Arg(0))
	}
	if o.cfg.Kernel == "" {
		return nil, usagef("gonest run: -kernel is required (see gonest run -h)")
	}
	n, err := vcpu.ParseNested(nested)
	if err != nil {
		return nil, usagef("gonest run: %v", err)
	}
	o.cfg.Nested = n
	for _, p := range o.ports {
		if err := p.Check(); err != nil {
			return nil, usagef("gonest run: %v", err)
		}
	}
	if o.cfg.Timeout < 0 {
		return nil, usagef("gonest run: -timeout %s is negative", o.cfg.Timeout)
	}
	if o.statsJSON != "" && o.statsJSON != "-" {
		// Checked now, not after a run that may have taken an hour.
		dir := filepath.Dir(o.statsJSON)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, usagef("gonest run: -stats-json %s: directory %s does not exist", o.statsJSON, dir)
		}
	}
	if err := o.anatomy.check(); err != nil {
		return nil, err
	}
	if err := checkConflicts(o); err != nil {
		return nil, err
	}
	return o, nil
}

func cmdRun(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	o, err := parseRunFlags(args, stdout)
	if err != nil {
		return flagsFailed(err, stderr)
	}
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelDebug
	}
	// Catch SIGINT/SIGTERM before the terminal goes raw.
	sigs := catchSignals(stderr)
	defer sigs.stop()

	con, err := console.Open(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "gonest: console: %v\n", err)
		return machine.ExitFailure
	}
	defer con.Restore()
	// On a raw terminal "\n" no longer returns the carriage; the console's
	// writers add it, for the guest's output and for gonest's own messages.
	stderr = con.HostWriter(stderr)
	o.cfg.ConsoleOut = con.HostWriter(stdout)
	o.cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	sigs.setConsole(con, stderr)

	an := newAnatomy(&o.anatomy, stderr)
	o.cfg.OnMarker = an.onMarker
	rel, err := newRelay(o.messages, o.forward)
	if err != nil {
		con.Restore()
		fmt.Fprintf(stderr, "gonest run: %v\n", err)
		return machine.ExitUsage
	}
	if rel != nil {
		o.cfg.OnMarker = func(mk machine.Marker) {
			rel.Marker(mk)
			an.onMarker(mk)
		}
		o.cfg.OnMessage = rel.Message
	}
	ends := make([]*vconsole.Ends, len(o.ports))
	for i, p := range o.ports {
		var pc machine.PortConfig
		pc, ends[i] = p.Ends()
		o.cfg.Ports = append(o.cfg.Ports, pc)
		defer ends[i].Close()
	}
	m, err := machine.New(o.cfg)
	if err != nil {
		con.Restore()
		if rel != nil {
			rel.Close() //nolint:errcheck // nothing was queued: the machine never ran
		}
		fmt.Fprintf(stderr, "gonest: %v\n", oneLine(err))
		if machine.IsInputError(err) {
			return machine.ExitUsage
		}
		return machine.ExitFailure
	}
	defer m.Close()
	// The ports' files are opened (out= created) only now that the
	// machine is sure to run.
	for _, e := range ends {
		if err := e.Open(); err != nil {
			con.Restore()
			fmt.Fprintf(stderr, "gonest: %v\n", oneLine(err))
			return machine.ExitUsage
		}
	}
	// The host warning comes once the machine is built, so that bad input
	// gets exactly one line.
	if w := doctor.StartupWarning(hostinfo.Root()); w != "" {
		fmt.Fprintln(stderr, "gonest: warning: "+w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		quit := func() { m.Stop(machine.Outcome{Reason: machine.ReasonQuit, Code: machine.ExitOK}) }
		if err := con.Run(ctx, m.Console(), quit, stderr); err != nil && ctx.Err() == nil {
			o.cfg.Logger.Warn("console input stopped", "err", err)
		}
	}()

	sigs.setMachine(m)
	an.attach(m)

	out := m.Run(ctx)
	cancel()
	an.finish()
	con.Restore()
	if rel != nil {
		// The guest's verdict message leaves before gonest's exit status.
		if err := rel.Close(); err != nil {
			fmt.Fprintf(stderr, "gonest: %v\n", err)
		}
	}
	if o.stats || o.statsJSON != "" || o.nestedState || an.reports() {
		if err := report(m, o, out, an, stderr); err != nil {
			fmt.Fprintf(stderr, "gonest: stats: %v\n", err)
		}
	}
	if err := m.Close(); err != nil && out.Code == machine.ExitOK {
		fmt.Fprintf(stderr, "gonest: %v\n", err)
		return machine.ExitFailure
	}
	describeOutcome(stderr, out)
	return out.Code
}

// describeOutcome tells the user why the run ended, when it is not obvious.
func describeOutcome(w io.Writer, out machine.Outcome) {
	switch out.Reason {
	case machine.ReasonFatal:
		var fe *vcpu.FatalError
		if errors.As(out.Err, &fe) {
			// The dump's first line is the error itself.
			fmt.Fprint(w, "gonest: "+fe.Dump())
		} else {
			fmt.Fprintf(w, "gonest: %v\n", out.Err)
		}
	case machine.ReasonTimeout, machine.ReasonSignal:
		fmt.Fprintf(w, "gonest: %v\n", out.Err)
	}
}

// oneLine renders an error on one line, escaping newlines and other
// control characters (from a file name, say).
func oneLine(err error) string { return singleLine(err.Error()) }
