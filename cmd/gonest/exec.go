package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/gonest/gonest/vcpu"
	"github.com/gonest/gonest/vmexec"
)

const execUsage = `Usage: gonest exec [flags] -- CMD [ARGS...]

Run CMD in a Linux VM as if it ran here: the host's files (its root
read-only, with writes kept in memory; the working directory and each -rw
directory writable through to the host), the same user, working directory
and environment, CMD's own stdin, stdout and stderr, and CMD's exit code.
Inside, /dev/kvm is there when this host can nest, so gonest exec works
again in the VM. With Go: go test -exec 'gonest exec --' ./...

The kernel is -kernel with -modules; else this host's own
(/boot/vmlinuz-$(uname -r), /lib/modules/$(uname -r)); else the one
make images fetched (images/out). -v says which.

Flags:
%s
Exit codes: CMD's own (128+N when signal N killed it); 2 bad flags or input
(one line, nothing booted); 124 -timeout; 125 the VM ended before CMD did
(kernel panic, crash) or gonest failed: the reason and the guest console's
last lines follow; 126 CMD cannot be executed; 127 CMD not found.

Ctrl-C (SIGINT), SIGTERM and SIGHUP go to CMD; a third one stops the VM.

Examples:
  gonest exec -- uname -a
  gonest exec -timeout 5m -- make check
  go test -exec 'gonest exec --' ./...
  gonest exec -kernel vmlinuz-6.12 -modules /lib/modules/6.12.0 -m 2G -- ./run-tests.sh
  gonest exec -rw /var/tmp/out -- sh -c 'gonest exec -m 384M -- ./inner-test'   # two levels
`

// execOptions are gonest exec's parsed flags.
type execOptions struct {
	cfg     vmexec.Config
	verbose bool
	status  string
}

// parseExecFlags parses gonest exec's flags; the command follows them.
func parseExecFlags(args []string, stdout io.Writer) (*execOptions, error) {
	o := &execOptions{}
	fs := flag.NewFlagSet("gonest exec", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	nested := "auto"
	fs.StringVar(&o.cfg.Kernel, "kernel", "", "kernel `PATH` (a bzImage); needs -modules unless it is installed on this host")
	fs.StringVar(&o.cfg.Modules, "modules", "", "the kernel's lib/modules/<release> `DIR`")
	fs.Var(sizeValue(&o.cfg.Memory), "m", fmt.Sprintf("guest memory `SIZE` (default %s)", formatMiB(vmexec.DefaultMemory)))
	fs.Var(cpusValue(&o.cfg.CPUs), "smp", fmt.Sprintf("run on `N` vCPUs (default: this host's count, at most %d)", vmexec.MaxDefaultCPUs))
	fs.Var(durationValue(&o.cfg.Timeout), "timeout", "stop the VM and exit 124 after this `DURATION` (e.g. 90s, 5m)")
	fs.StringVar(&nested, "nested", "auto", "`MODE`: auto gives the guest this host's VMX/SVM when KVM offers it (then /dev/kvm is there inside), on requires it, off hides it")
	fs.Var(listFlag[string]{&o.cfg.RW, func(s string) (string, error) { return s, nil }}, "rw", "also share `DIR` writable (repeatable); the working directory always is")
	fs.StringVar(&o.cfg.Append, "append", "", "more kernel command line")
	fs.BoolVar(&o.verbose, "v", false, "say which kernel, modules and initramfs; show the guest's console and gonest's log on stderr, and the timings")
	fs.StringVar(&o.status, "status", "", "write how the run ended to `FILE` as JSON: exit_code, command_exited, signal, reason, phases (for tools; /proc/self/fd/N for a pipe)")
	for _, name := range []string{"m", "smp", "timeout"} {
		fs.Lookup(name).DefValue = "" // zero means the default the usage names, or none: no "(default 0)"
	}
	if err := parseFlags(fs, args, stdout, execUsage); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usagef("gonest exec: %v (see gonest exec -h)", err)
	}
	o.cfg.Args = fs.Args()
	if len(o.cfg.Args) == 0 {
		return nil, usagef("gonest exec: no command given after --; usage: gonest exec [flags] -- CMD [ARGS...]")
	}
	n, err := vcpu.ParseNested(nested)
	if err != nil {
		return nil, usagef("gonest exec: %v", err)
	}
	o.cfg.Nested = n
	o.cfg.Verbose = o.verbose
	return o, nil
}

func formatMiB(n uint64) string { return fmt.Sprintf("%dM", n>>20) }

// execStatus is what -status writes.
type execStatus struct {
	ExitCode      int            `json:"exit_code"`
	CommandExited bool           `json:"command_exited"`
	Signal        string         `json:"signal,omitempty"`
	Reason        string         `json:"reason,omitempty"`
	Phases        map[string]any `json:"phases"`
}

func cmdExec(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	o, err := parseExecFlags(args, stdout)
	if err != nil {
		return flagsFailed(err, stderr)
	}
	sigs := catchExecSignals(stderr)
	defer sigs.stop()

	cfg := o.cfg
	cfg.Stdin, cfg.Stdout, cfg.Stderr = execStdin(stdin), stdout, stderr
	if o.verbose {
		cfg.Console = stderr
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	plan, err := vmexec.Prepare(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "gonest exec: %s\n", oneLine(err))
		if vmexec.IsUsageError(err) {
			return vmexec.ExitUsage
		}
		return vmexec.ExitGuestFailed
	}
	if o.verbose {
		cached := "built"
		if plan.Cached {
			cached = "cached"
		}
		fmt.Fprintf(stderr, "gonest exec: kernel %s (%s, release %s)\n", plan.Kernel.Path, plan.Kernel.Source, plan.Kernel.Release)
		fmt.Fprintf(stderr, "gonest exec: %s\n", plan.Modules)
		fmt.Fprintf(stderr, "gonest exec: initramfs %s (%s)\n", plan.Initramfs, cached)
		fmt.Fprintf(stderr, "gonest exec: writable: %s; host file systems overlaid: %s\n",
			shareList(plan), strings.Join(plan.Job.Root.Submounts, " "))
	}
	sess, err := plan.Start()
	if err != nil {
		fmt.Fprintf(stderr, "gonest exec: %s\n", oneLine(err))
		if vmexec.IsUsageError(err) {
			return vmexec.ExitUsage
		}
		return vmexec.ExitGuestFailed
	}
	sigs.setSession(sess)
	res := sess.Run(context.Background())
	if o.verbose {
		fmt.Fprintf(stderr, "gonest exec: %s; vm stopped: %s\n", res.Phases, res.Outcome)
	}
	report := res.Reason
	if !res.Exited && report != "" {
		fmt.Fprintf(stderr, "gonest exec: %s\n", report)
	}
	if !res.Exited && (res.ExitCode == vmexec.ExitGuestFailed || res.ExitCode == vmexec.ExitTimeout) && !o.verbose {
		printTail(stderr, res.Tail)
	}
	if o.status != "" {
		if err := writeStatus(o.status, res); err != nil {
			fmt.Fprintf(stderr, "gonest exec: -status: %v\n", err)
		}
	}
	return res.ExitCode
}

func shareList(p *vmexec.Plan) string {
	var out []string
	for _, s := range p.Job.Shares {
		out = append(out, s.Path)
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, " ")
}

// printTail shows the guest console's last lines after a failure.
func printTail(w io.Writer, lines []string) {
	if len(lines) == 0 {
		fmt.Fprintln(w, "gonest exec: the guest's console was empty (-v shows it as it comes)")
		return
	}
	fmt.Fprintf(w, "gonest exec: the guest console's last %d lines:\n", len(lines))
	for _, l := range lines {
		fmt.Fprintf(w, "  | %s\n", singleLine(l))
	}
}

func writeStatus(path string, res vmexec.Result) error {
	b, err := json.Marshal(execStatus{
		ExitCode: res.ExitCode, CommandExited: res.Exited, Signal: res.Signal, Reason: res.Reason,
		Phases: map[string]any{
			"init_started_s":    res.Phases.InitStarted.Seconds(),
			"command_started_s": res.Phases.CommandStarted.Seconds(),
			"command_exited_s":  res.Phases.CommandExited.Seconds(),
			"total_s":           res.Phases.Total.Seconds(),
		},
	})
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// execStdin is the command's input: this process's stdin, unless it is a
// terminal of which gonest is not in the foreground (a background job),
// where reading would stop gonest with SIGTTIN: the command then reads
// end-of-file.
func execStdin(stdin *os.File) io.Reader {
	if stdin == nil {
		return nil
	}
	fd := int(stdin.Fd())
	if !term.IsTerminal(fd) {
		return stdin
	}
	fg, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	if err == nil && fg != unix.Getpgrp() {
		return strings.NewReader("")
	}
	return stdin
}

// execSignals passes SIGINT, SIGTERM and SIGHUP on to the command in the
// guest (Ctrl-C on a terminal reaches it this way), and stops the VM on the
// third, or on SIGPIPE (whoever read gonest's output went away). Before
// the VM exists, a signal ends gonest at once.
type execSignals struct {
	ch     chan os.Signal
	stderr io.Writer

	mu    sync.Mutex
	sess  execSession
	count int
}

// execSession is what a signal acts on: a *vmexec.Session.
type execSession interface {
	Signal(syscall.Signal)
	Stop(code int, why string)
}

// stopAfter is how many signals gonest passes on before it stops the VM.
const stopAfter = 3

func catchExecSignals(stderr io.Writer) *execSignals {
	s := &execSignals{ch: make(chan os.Signal, 4), stderr: stderr}
	signal.Notify(s.ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	go s.loop(os.Exit)
	return s
}

func (s *execSignals) setSession(sess execSession) {
	s.mu.Lock()
	s.sess = sess
	s.mu.Unlock()
}

func (s *execSignals) stop() { signal.Stop(s.ch) }

func (s *execSignals) loop(exit func(int)) {
	for sig := range s.ch {
		s.handle(sig.(syscall.Signal), exit)
	}
}

func (s *execSignals) handle(sig syscall.Signal, exit func(int)) {
	code := 128 + int(sig)
	s.mu.Lock()
	sess := s.sess
	if sig != syscall.SIGPIPE {
		s.count++
	}
	count := s.count
	s.mu.Unlock()
	switch {
	case sess == nil:
		fmt.Fprintf(s.stderr, "gonest exec: received %s before the guest started; exiting\n", unix.SignalName(sig))
		exit(code)
	case sig == syscall.SIGPIPE:
		sess.Stop(code, "SIGPIPE: whoever read the output went away")
	case count >= stopAfter:
		fmt.Fprintf(s.stderr, "gonest exec: %s number %d: stopping the VM\n", unix.SignalName(sig), count)
		sess.Stop(code, fmt.Sprintf("%s received %d times", unix.SignalName(sig), count))
	default:
		sess.Signal(sig)
	}
}
