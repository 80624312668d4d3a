package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gonest/gonest/guestabi"
)

// BochsConfig describes one Intel lab run: H under Bochs, whose CPU model
// emulates VMX, so H's kvm_intel is real VMX KVM.
type BochsConfig struct {
	Bochs     string // Bochs binary; DefaultBochs if empty
	Model     string // Bochs CPU model; DefaultBochsModel if empty (must have VMX and EPT)
	CPUs      int    // cpu: count; 1 if zero
	MemoryMiB int    // H's RAM in MiB, at most 2048; DefaultBochsMemoryMiB if zero
	IPS       int    // emulated instructions per second; DefaultBochsIPS if zero

	Kernel string // bzImage for H
	Initrd string // H's initramfs
	// NextImages is a newc cpio of the next level's images (h-next.cpio)
	// that ISOLINUX loads as H's second initrd: the kernel unpacks its
	// files at guestabi.NextDir, where gonest-init looks first, so H
	// needs no disk. Empty loads none.
	NextImages string

	Scenario  string        // gonest.scenario for H's init
	Append    string        // more kernel parameters, after the scenario
	Timeout   time.Duration // the whole run, boot included; DefaultBochsTimeout if zero
	Log       io.Writer     // H's console ("[H] "), Bochs's stderr and port 0xE9 output; nil discards
	TailLines int           // lines per level kept for errors; DefaultTailLines if zero

	// Verdict reads H's verdict from one of H's console lines. Nil uses
	// InitVerdictLine, the line gonest-init prints before powering off:
	// Bochs has no exit device, so the verdict travels on the console.
	Verdict func(line string) (guestabi.Verdict, bool)
}

// DefaultBochsTimeout bounds a Bochs run whose Timeout is zero. Bochs
// emulates every instruction: H alone takes minutes to boot.
const DefaultBochsTimeout = 30 * time.Minute

// BochsLevel is the console prefix of Bochs's own output.
const BochsLevel = "bochs"

// E9Level is the console prefix of what H writes to port 0xE9.
const E9Level = "H:e9"

// bochsLogLevel keys the tail of Bochs's log file in Result.Tails.
const bochsLogLevel = "bochs.log"

// initVerdictPrefix starts the line gonest-init logs just before it
// powers off: "init: verdict code=N verdict=NAME".
const initVerdictPrefix = "init: verdict code="

// InitVerdictLine reads the verdict from the line gonest-init prints last,
// "init: verdict code=N ...". Lines of deeper levels ("[G1] init: ...")
// do not match: their verdict reaches H's own line through each level.
func InitVerdictLine(line string) (guestabi.Verdict, bool) {
	rest, ok := strings.CutPrefix(line, initVerdictPrefix)
	if !ok {
		return 0, false
	}
	code, _, _ := strings.Cut(rest, " ")
	var n uint8
	if _, err := fmt.Sscanf(code, "%d", &n); err != nil || fmt.Sprint(n) != code {
		return 0, false
	}
	return guestabi.Verdict(n), true
}

// defaults fills zero fields and checks everything a run needs before
// anything starts: the CPU model, the memory size, the images and the
// Debian packages, each problem in one line that says what to do.
func (cfg *BochsConfig) defaults() error {
	if cfg.Bochs == "" {
		cfg.Bochs = DefaultBochs
	}
	if cfg.Model == "" {
		cfg.Model = DefaultBochsModel
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = 1
	}
	if cfg.MemoryMiB == 0 {
		cfg.MemoryMiB = DefaultBochsMemoryMiB
	}
	if cfg.IPS == 0 {
		cfg.IPS = DefaultBochsIPS
	}
	runDefaults(&cfg.Timeout, DefaultBochsTimeout, &cfg.TailLines, &cfg.Log)
	if cfg.Verdict == nil {
		cfg.Verdict = InitVerdictLine
	}
	if err := checkBochsModel(cfg.Model); err != nil {
		return err
	}
	switch {
	case cfg.CPUs < 1 || cfg.CPUs > 8:
		return fmt.Errorf("bochs cpus %d: use 1 to 8", cfg.CPUs)
	case cfg.MemoryMiB < 256 || cfg.MemoryMiB > maxBochsMemoryMiB:
		return fmt.Errorf("bochs memory %d MiB: Bochs 2.7 takes 256 to %d", cfg.MemoryMiB, maxBochsMemoryMiB)
	case cfg.IPS < 1_000_000:
		return fmt.Errorf("bochs ips %d: use at least 1000000", cfg.IPS)
	case cfg.Scenario == "" || strings.ContainsAny(cfg.Scenario, " \"\n"):
		return fmt.Errorf("scenario %q: name one scenario of cmd/gonest-init, e.g. kvmtests", cfg.Scenario)
	case strings.ContainsAny(cfg.Append, "\n"):
		return fmt.Errorf("append %q: kernel parameters on one line", cfg.Append)
	}
	files := []string{cfg.Kernel, cfg.Initrd}
	if cfg.NextImages != "" {
		files = append(files, cfg.NextImages)
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("lab image: %w; build the images with `make images`", err)
		}
	}
	return CheckBochsPackages(cfg.Bochs)
}

// CheckBochsPackages names, in one line, the Debian packages of the Intel
// lab whose files or commands are missing, and the command that installs
// them. bochs is the Bochs binary to look for; "" means DefaultBochs.
func CheckBochsPackages(bochs string) error {
	var missing []string
	for _, c := range bochsCommands {
		name := c.name
		switch {
		case c.name == "":
			name = genisoimage
		case c.name == DefaultBochs && bochs != "":
			name = bochs
		}
		if _, err := exec.LookPath(name); err != nil {
			missing = append(missing, c.pkg)
		}
	}
	for _, f := range bochsFiles {
		if _, err := os.Stat(debianRoot + f.path); err != nil {
			missing = append(missing, f.pkg)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the Intel lab needs the Debian packages %s; install them: apt-get install -y %s",
			strings.Join(missing, ", "), BochsPackages)
	}
	return nil
}

// bochsCmdline is H's kernel command line: the lab's usual one.
func bochsCmdline(cfg BochsConfig) string {
	return cmdline(Config{Scenario: cfg.Scenario, Append: cfg.Append})
}

// prepareBochs writes the boot CD, bochsrc and the debugger's command file
// into dir and returns Bochs's arguments.
func prepareBochs(ctx context.Context, dir string, cfg BochsConfig) ([]string, error) {
	if strings.ContainsAny(dir, " ,\"") {
		return nil, fmt.Errorf("temporary directory %q: Bochs's configuration cannot name a path with spaces, commas or quotes; set TMPDIR to a plain path", dir)
	}
	for _, f := range bochsFiles[2:] { // isolinux.bin, ldlinux.c32
		b, err := os.ReadFile(debianRoot + f.path)
		if err != nil {
			return nil, fmt.Errorf("%w; install it: apt-get install -y %s", err, f.pkg)
		}
		// A copy: genisoimage writes the boot info table into isolinux.bin.
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f.path)), b, 0o644); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, isoConfig), []byte(isolinuxCfg(bochsCmdline(cfg), cfg.NextImages != "")), 0o644); err != nil {
		return nil, err
	}
	iso := filepath.Join(dir, "boot.iso")
	if out, err := exec.CommandContext(ctx, genisoimage, genisoimageArgs(iso, dir, cfg)...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", genisoimage, err, strings.TrimSpace(string(out)))
	}
	rc := filepath.Join(dir, "bochsrc")
	conf := bochsrc(cfg, iso, filepath.Join(dir, bochsCOM1), filepath.Join(dir, bochsLogFile))
	if err := os.WriteFile(rc, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	// Debian's Bochs has its debugger compiled in, which stops before the
	// first instruction; "c" continues.
	cont := filepath.Join(dir, "debugger.rc")
	if err := os.WriteFile(cont, []byte("c\n"), 0o644); err != nil {
		return nil, err
	}
	return []string{"-q", "-f", rc, "-rc", cont}, nil
}

// Files inside a run's directory.
const (
	bochsCOM1    = "com1.out"  // H's serial console
	bochsLogFile = "bochs.log" // Bochs's log
)

// followInterval is how often RunBochs reads the files Bochs appends to.
const followInterval = 100 * time.Millisecond

// RunBochs boots H under Bochs with cfg and waits for its verdict. The
// error is nil exactly when a verdict was read; Result.Verdict then says
// whether the scenario passed. Cancelling ctx kills Bochs. Bochs ignores
// SIGTERM (its debugger is compiled in), so every stop is a SIGKILL.
func RunBochs(ctx context.Context, cfg BochsConfig) (Result, error) {
	if err := cfg.defaults(); err != nil {
		return Result{}, err
	}
	dir, err := os.MkdirTemp("", "gonest-intel-")
	if err != nil {
		return Result{}, fmt.Errorf("lab temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	args, err := prepareBochs(ctx, dir, cfg)
	if err != nil {
		return Result{}, fmt.Errorf("lab %s: %w", cfg.Scenario, err)
	}

	start := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	cons := newConsole(cfg.Log, Level, cfg.TailLines)
	var verdict *guestabi.Verdict
	cons.onLine = func(line string) {
		if v, ok := cfg.Verdict(line); ok && verdict == nil {
			verdict = &v
		}
	}
	stderr := newConsole(cfg.Log, BochsLevel, cfg.TailLines)
	stderr.hide = bochsNoise
	// Bochs's stdout carries port 0xE9's bytes, and Bochs's own banner and
	// debugger lines: the banner is dropped, and the debugger's "(0)
	// [0x...] ..." lines (where each CPU was when Bochs quit) go with
	// Bochs's stderr.
	e9 := newConsole(cfg.Log, E9Level, cfg.TailLines)
	e9.onLine = func(line string) {
		if bochsDebuggerLine(line) {
			_, _ = stderr.Write([]byte(line + "\n"))
		}
	}
	e9.hide = func(line string) bool {
		return bochsNoise(line) || strings.HasPrefix(line, "Next at t=") || bochsDebuggerLine(line)
	}
	blog := newBochsLog(cfg.TailLines)

	cmd := exec.Command(cfg.Bochs, args...)
	cmd.Dir = dir
	// Its own process group, so a stop reaches whatever Bochs started too;
	// Pdeathsig kills it if this process dies first (a go test timeout);
	// WaitDelay bounds the wait for output a leftover child keeps open.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdout, cmd.Stderr = e9, stderr // stdin: /dev/null, so the debugger never waits for a key
	_, _ = fmt.Fprintf(cfg.Log, "[lab] %s %s (cpu %s x%d, %d MiB; H's console: %s)\n",
		cfg.Bochs, strings.Join(args, " "), cfg.Model, cfg.CPUs, cfg.MemoryMiB, filepath.Join(dir, bochsCOM1))
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("lab %s: start %s: %w", cfg.Scenario, cfg.Bochs, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	com1 := &follower{path: filepath.Join(dir, bochsCOM1), w: cons}
	logf := &follower{path: filepath.Join(dir, bochsLogFile), w: blog}
	tick := time.NewTicker(followInterval)
	defer tick.Stop()
	var waitErr error
	killed := false
loop:
	for {
		select {
		case waitErr = <-exited:
			break loop
		case <-runCtx.Done():
			// SIGKILL: Bochs ignores SIGTERM while its debugger is compiled in.
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			killed = true
			waitErr = <-exited
			break loop
		case <-tick.C:
			com1.poll()
			logf.poll()
		}
	}
	com1.poll()
	logf.poll()
	for _, c := range []*console{cons, e9, stderr} {
		c.Flush()
	}
	blog.Flush()

	res := Result{Duration: time.Since(start), Tails: cons.Tails()}
	if cmd.ProcessState != nil {
		res.Status = cmd.ProcessState.ExitCode()
	}
	for _, c := range []*console{e9, stderr} {
		for k, v := range c.Tails() {
			res.Tails[k] = v
		}
	}
	if t := blog.Tail(); len(t) > 0 {
		res.Tails[bochsLogLevel] = t
	}
	cpu := ""
	if cmd.ProcessState != nil {
		cpu = fmt.Sprintf(", %.1fs of CPU", (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds())
	}
	_, _ = fmt.Fprintf(cfg.Log, "[lab] Bochs exited with status %d after %.1fs%s\n", res.Status, res.Duration.Seconds(), cpu)
	if s := blog.Summary(5); s != "" {
		_, _ = fmt.Fprintf(cfg.Log, "[lab] bochs.log, most frequent: %s\n", s)
	}

	switch {
	case killed && ctx.Err() != nil:
		return res, fmt.Errorf("lab %s: %w", cfg.Scenario, ctx.Err())
	case killed && verdict == nil:
		return res, fmt.Errorf("lab %s: timeout: no verdict within %v; Bochs killed%s", cfg.Scenario, cfg.Timeout, formatTails(res.Tails))
	case verdict == nil:
		why := "H powered off, rebooted or panicked without a verdict"
		if p := blog.Panic(); p != "" {
			why = "Bochs panicked: " + p
		}
		var exitErr *exec.ExitError
		if waitErr != nil && !errors.As(waitErr, &exitErr) {
			why = waitErr.Error()
		}
		return res, fmt.Errorf("lab %s: Bochs exited with status %d and no verdict: %s%s", cfg.Scenario, res.Status, why, formatTails(res.Tails))
	}
	res.Verdict = *verdict
	_, _ = fmt.Fprintf(cfg.Log, "[lab] verdict %d (%s)\n", uint8(res.Verdict), res.Verdict)
	return res, nil
}

// bochsNoise matches Bochs's start-up chatter on stderr: plugin loading
// and the banner, which every run prints the same.
func bochsNoise(line string) bool {
	return strings.Contains(line, "[PLUGIN]") || strings.Contains(line, "lt_dlhandle") ||
		strings.Contains(line, "LTDL_LIBRARY_PATH") || strings.HasPrefix(line, "=====") ||
		strings.Contains(line, "Bochs x86 Emulator") || strings.Contains(line, "Built from") ||
		strings.Contains(line, "Timestamp:") || strings.Contains(line, "installing rfb") ||
		strings.Contains(line, "using log file") || strings.HasPrefix(line, "ALSA lib")
}

// bochsDebuggerLine matches the debugger's report of where a CPU is:
// "(0) [0x0000fffffff0] f000:fff0 (unk. ctxt): jmpf 0xf000:e05b".
func bochsDebuggerLine(line string) bool {
	rest, ok := strings.CutPrefix(line, "(")
	if !ok {
		return false
	}
	n, rest, ok := strings.Cut(rest, ")")
	if !ok || n == "" || strings.Trim(n, "0123456789") != "" {
		return false
	}
	return strings.HasPrefix(rest, " [0x") || strings.HasPrefix(rest, ".[")
}

// follower copies what a program appends to a file into w, from where it
// last stopped. A file not created yet is not an error.
type follower struct {
	path string
	off  int64
	w    io.Writer
}

func (f *follower) poll() {
	fh, err := os.Open(f.path)
	if err != nil {
		return
	}
	defer fh.Close()
	if _, err := fh.Seek(f.off, io.SeekStart); err != nil {
		return
	}
	n, _ := io.Copy(f.w, fh)
	f.off += n
}
