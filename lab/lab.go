package lab

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
)

// Level is the name of the level QEMU runs, the prefix of its console lines.
const Level = "H"

// DefaultTimeout bounds a run whose Config.Timeout is zero.
const DefaultTimeout = 10 * time.Minute

// DefaultTailLines is how many lines per level an error message repeats.
const DefaultTailLines = 30

// Config describes one lab run.
type Config struct {
	// NextImages is H's next-level images disk (labtest.Set.HNext:
	// h-next.ext4, label gonest-next), attached read-only after Disks;
	// gonest-init mounts it at guestabi.NextDir. Empty attaches none.
	NextImages string

	QEMU     string        // QEMU binary; DefaultQEMU if empty
	Kernel   string        // bzImage for H
	Initrd   string        // H's initramfs
	Scenario string        // gonest.scenario for H's init
	Append   string        // more kernel parameters, after the scenario
	Timeout  time.Duration // the whole run, boot included; DefaultTimeout if zero
	Memory   string        // QEMU -m; DefaultMemory if empty
	CPUs     int           // QEMU -smp; DefaultCPUs if zero (TCG uses a host core per vCPU)
	Disks    []string      // images attached as virtio-blk-pci disks, vda first, each with its file name as serial
	Log      io.Writer     // H's console, each line prefixed "[H] "; nil discards it. Run serializes its writes.
	// Interactive gives QEMU this process's stdin and stdout (for the shell
	// scenario): no prefixes, no tails, Log unused.
	Interactive bool
	TailLines   int // lines per level kept for errors; DefaultTailLines if zero

	// WritableDisks lets the guest's writes reach the Disks files, for a
	// test that checks them after the run; by default they go to a
	// throwaway overlay (QEMU snapshot=on) and the files stay as built.
	WritableDisks bool

	// Shares are directories of this machine H mounts over virtio-fs, for
	// a scenario that needs more than its images hold: the exec
	// scenario's Go toolchain and test package.
	Shares []Share
	// Virtiofsd serves the Shares; DefaultVirtiofsd if empty.
	Virtiofsd string
}

// Share is a directory of this machine that H mounts with
// mount -t virtiofs TAG DIR.
//
// Each share has its own virtiofsd (QEMU's vhost-user file server), which
// Run starts before QEMU, waits for until it listens on its socket, and
// kills when the run ends, whichever way: H gets a vhost-user-fs-pci
// device per share, its memory in a shared memfd. virtio-fs is the one
// transport every Debian kernel flavour has as a module (fuse and
// virtiofs; the cloud flavour has no 9p), and the one gonest exec's own
// guests use. It needs root here: virtiofsd's sandbox uses namespaces.
//
// A read-only share is read-only on this machine (virtiofsd runs in a
// mount namespace where the directory is a read-only bind mount) and in
// H (H mounts it read-only). The kernel checks permissions in H (virtio-fs
// mounts with default_permissions: virtio_fs_fill_super() in
// fs/fuse/virtio_fs.c) as well as here, where virtiofsd keeps the
// caller's capabilities but creates files under H's user's ids.
type Share struct {
	Dir      string // on this machine, one file system (virtiofsd does not announce submounts)
	Tag      string // the virtio-fs tag, at most 31 bytes
	ReadOnly bool
}

// Result is what a finished run reports.
type Result struct {
	Verdict  guestabi.Verdict    // the innermost verdict, passed up by each level
	Status   int                 // QEMU's exit status
	Duration time.Duration       // wall time of the run
	CPUTime  time.Duration       // the VMM's own CPU time: Bochs's figure that the load does not change
	Marks    []Mark              // boot markers, in arrival order
	Messages []launch.Message    // messages of every level (bench rows, events, verdicts), in arrival order
	Tails    map[string][]string // last lines per level: "H", "H/G1", ..., the VMM's own ("qemu", "bochs") and Bochs's log ("bochs.log")
}

// TailsText renders every level's console tail, outermost first (the
// failing level's lines end it), for a failure message.
func (r Result) TailsText() string { return launch.FormatTails(r.Tails) }

// Mark returns when H's own marker m first arrived, and whether it did.
func (r Result) Mark(m guestabi.Marker) (time.Duration, bool) { return r.MarkAt(0, m) }

// MarkAt returns when marker m of the level depth below H (1 for G1, 2
// for G2) first arrived, and whether it did.
func (r Result) MarkAt(depth int, m guestabi.Marker) (time.Duration, bool) {
	marks := make([]launch.Mark, len(r.Marks))
	for i, mk := range r.Marks {
		marks[i] = launch.Mark(mk)
	}
	return launch.Result{Marks: marks}.MarkAt(depth, m)
}

// Results returns the messages of type result called name written by the
// level depth below H (0 for H), in order.
func (r Result) Results(depth int, name string) []launch.Message {
	return launch.Result{Messages: r.Messages}.Results(depth, name)
}

func (cfg *Config) defaults() error {
	if cfg.QEMU == "" {
		cfg.QEMU = DefaultQEMU
	}
	if cfg.Memory == "" {
		cfg.Memory = DefaultMemory
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = DefaultCPUs
	}
	runDefaults(&cfg.Timeout, DefaultTimeout, &cfg.TailLines, &cfg.Log)
	if cfg.Scenario == "" || strings.ContainsAny(cfg.Scenario, " \"") {
		return fmt.Errorf("scenario %q: name one scenario of cmd/gonest-init, e.g. kvmtests", cfg.Scenario)
	}
	for _, sh := range cfg.Shares {
		if st, err := os.Stat(sh.Dir); err != nil || !st.IsDir() {
			return fmt.Errorf("lab share %s: not a directory", sh.Dir)
		}
		if sh.Tag == "" || len(sh.Tag) > 31 || strings.ContainsAny(sh.Tag, ", :") || strings.Contains(sh.Dir, ",") {
			return fmt.Errorf("lab share %s: tag %q: want 1 to 31 bytes without commas, colons or spaces, and a path without commas", sh.Dir, sh.Tag)
		}
	}
	if err := checkImages(append([]string{cfg.Kernel, cfg.Initrd, cfg.NextImages}, cfg.Disks...)...); err != nil {
		return err
	}
	if _, err := exec.LookPath(cfg.QEMU); err != nil {
		return fmt.Errorf("%w; install QEMU with `apt-get install -y qemu-system-x86`", err)
	}
	if len(cfg.Shares) > 0 {
		if cfg.Virtiofsd == "" {
			cfg.Virtiofsd = DefaultVirtiofsd
		}
		if _, err := exec.LookPath(cfg.Virtiofsd); err != nil {
			return fmt.Errorf("lab shares: %w; install it with `apt-get install -y %s`", err, virtiofsdPackage)
		}
		if os.Geteuid() != 0 {
			return fmt.Errorf("lab shares: virtiofsd needs root (its sandbox uses namespaces); run the lab as root")
		}
	}
	return nil
}

// Run boots H under QEMU with cfg and waits for its verdict. The error is
// nil exactly when a verdict was decoded; Result.Verdict then says whether
// the scenario passed. Cancelling ctx kills QEMU.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.defaults(); err != nil {
		return Result{}, err
	}
	memory, err := launch.ParseMemory(cfg.Memory)
	if err == nil {
		cfg.Memory, err = launch.FormatMemory(memory)
	}
	if err != nil {
		return Result{}, fmt.Errorf("lab memory: %w", err)
	}
	fs, err := startShares(ctx, cfg, cfg.Log, socketWait)
	if err != nil {
		return Result{}, err
	}
	defer fs.stop()
	// A share's virtiofsd that dies ends the run: H cannot go on without it.
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	fs.watch(cancel)

	spec := launch.Spec{VMM: tcg{cfg: cfg, fsSocks: fs.sockets()}, Kernel: cfg.Kernel, Initrd: cfg.Initrd, Memory: memory, CPUs: cfg.CPUs,
		Level: Level, Timeout: cfg.Timeout, Console: cfg.Log, Interactive: cfg.Interactive, TailLines: cfg.TailLines}
	// The terminal of an interactive run is QEMU's, in raw mode: no marker lines.
	lres, runErr := launch.Run(runCtx, spec, observer(cfg.Log, cfg.QEMU, "", !cfg.Interactive))
	fs.stop()
	res := resultOf(lres)
	for k, v := range fs.tails() {
		if res.Tails == nil {
			res.Tails = map[string][]string{}
		}
		res.Tails[k] = v
	}
	if lres.HiddenLines > 0 {
		_, _ = fmt.Fprintf(cfg.Log, "[lab] (%d QEMU warnings about EPYC features TCG lacks not shown)\n", lres.HiddenLines)
	}
	if lres.Duration > 0 {
		_, _ = fmt.Fprintf(cfg.Log, "[lab] QEMU exited with status %d after %.1fs\n", res.Status, res.Duration.Seconds())
	}

	switch {
	case lres.TimedOut:
		return res, fmt.Errorf("lab %s: timeout: no verdict within %v (%s); QEMU killed%s",
			cfg.Scenario, cfg.Timeout, progress(res.Marks), res.TailsText())
	// QEMU killed because a virtiofsd failed (fsServers.watch).
	case ctx.Err() == nil && context.Cause(runCtx) != nil && res.Status < 0:
		return res, fmt.Errorf("lab %s: %w; QEMU killed (%s)%s", cfg.Scenario, context.Cause(runCtx), progress(res.Marks), res.TailsText())
	case ctx.Err() != nil:
		return res, fmt.Errorf("lab %s: %w", cfg.Scenario, ctx.Err())
	case lres.Duration == 0 && runErr != nil:
		return res, fmt.Errorf("lab %s: %w", cfg.Scenario, runErr)
	}
	v, ok := launch.DecodeQEMUStatus(res.Status)
	if !ok {
		return res, fmt.Errorf("lab %s: QEMU exited with status %d and no verdict: the guest powered off, rebooted or panicked (%s)%s",
			cfg.Scenario, res.Status, progress(res.Marks), res.TailsText())
	}
	// QEMU's own errors also exit 1, which reads as verdict Pass; a real
	// pass always comes after the scenario-end marker.
	if v == guestabi.Pass && !sawMarker(res.Marks, guestabi.MarkerScenarioEnd) && !cfg.Interactive {
		return res, fmt.Errorf("lab %s: QEMU exited with status 1 but the guest never reached %q: QEMU itself failed?%s",
			cfg.Scenario, guestabi.MarkerScenarioEnd, res.TailsText())
	}
	if runErr != nil { // H's verdict message contradicts QEMU's status
		return res, fmt.Errorf("lab %s: %w", cfg.Scenario, runErr)
	}
	res.Verdict = v
	_, _ = fmt.Fprintf(cfg.Log, "[lab] verdict %d (%s)\n", uint8(v), v)
	return res, nil
}

// checkImages says which of the lab's image files is missing, and how to
// build it; empty names are skipped.
func checkImages(files ...string) error {
	for _, f := range files {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("lab image: %w; build the images with `make images`", err)
		}
	}
	return nil
}

// observer logs the VMM's command line (prog, then its arguments, then
// note) once it started, and each marker as it arrives when marks is set.
func observer(log io.Writer, prog, note string, marks bool) *launch.Observer {
	obs := &launch.Observer{
		Started: func(p *launch.Process) {
			_, _ = fmt.Fprintf(log, "[lab] %s %s%s\n", prog, strings.Join(quoteArgs(p.Args()[1:]), " "), note)
		},
	}
	if marks {
		obs.Mark = func(m launch.Mark) {
			_, _ = fmt.Fprintf(log, "[lab] marker %s at %.1fs\n", Mark(m), m.At.Seconds())
		}
	}
	return obs
}

// resultOf is the lab's view of launch's result.
func resultOf(lres launch.Result) Result {
	res := Result{Status: lres.ExitCode, Duration: lres.Duration, CPUTime: lres.CPUTime, Messages: lres.Messages, Tails: lres.Tails}
	for _, m := range lres.Marks {
		res.Marks = append(res.Marks, Mark(m))
	}
	return res
}

// runDefaults fills what every runner's config has: the time limit, the
// tail length and the log, which becomes safe for concurrent writers.
func runDefaults(timeout *time.Duration, defTimeout time.Duration, tail *int, log *io.Writer) {
	if *timeout == 0 {
		*timeout = defTimeout
	}
	if *tail == 0 {
		*tail = DefaultTailLines
	}
	if *log == nil {
		*log = io.Discard
	}
	*log = &lockedWriter{w: *log}
}

// progress says how far the boot got, from the markers.
func progress(marks []Mark) string {
	m, ok := lastMark(marks)
	if !ok {
		return "no boot marker arrived: the kernel never reached gonest-init"
	}
	return fmt.Sprintf("last marker %s at %.1fs", m, m.At.Seconds())
}

// quoteArgs quotes arguments with spaces, for a copy-pasteable log line.
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \"'") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return out
}

// lockedWriter serializes writes: QEMU's stdout and stderr and the marker
// socket are copied by different goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
