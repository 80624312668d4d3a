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
	"github.com/gonest/gonest/launch"
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
	Log       io.Writer     // H's console ("[H] ") and Bochs's own output ("[bochs] "); nil discards
	TailLines int           // lines per level kept for errors; DefaultTailLines if zero
}

// DefaultBochsTimeout bounds a Bochs run whose Timeout is zero. Bochs
// emulates every instruction: H alone takes minutes to boot.
const DefaultBochsTimeout = 30 * time.Minute

// bochsLogLevel keys the tail of Bochs's log file in Result.Tails.
const bochsLogLevel = "bochs.log"

// defaults fills zero fields and checks what the lab itself needs: the
// scenario and the images. The Bochs VMM checks the rest (bochsVMM.Check).
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
	switch {
	case cfg.Scenario == "" || strings.ContainsAny(cfg.Scenario, " \"\n"):
		return fmt.Errorf("scenario %q: name one scenario of package scenario, e.g. kvmtests", cfg.Scenario)
	case strings.ContainsAny(cfg.Append, "\n"):
		return fmt.Errorf("append %q: kernel parameters on one line", cfg.Append)
	}
	return checkImages(cfg.Kernel, cfg.Initrd, cfg.NextImages)
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

// bochsCmdline is H's kernel command line: the lab's usual one, with
// gonest.markers=messages, since Bochs has no device on the marker port
// and H's markers must come as messages.
func bochsCmdline(cfg BochsConfig) string {
	return cmdline(Config{Scenario: cfg.Scenario,
		Append: strings.TrimSpace(guestabi.ParamMarkers + "=" + guestabi.MarkersAsMessages + " " + cfg.Append)})
}

// bochsVMM is Bochs as a launch.VMM: the boot CD, bochsrc and debugger
// command file written into the run's directory, H's serial console
// written by Bochs into a pipe (com1: mode=file), its log into another,
// and its stdout, where port 0xE9's bytes come out, read as the message
// stream. Its exit status says nothing (StatusBlind): it exits 1 after
// H's ACPI power-off and after a panic alike.
type bochsVMM struct {
	cfg BochsConfig
	log *bochsLog
}

// Name implements launch.VMM; Bochs's own output is kept as "bochs".
func (bochsVMM) Name() string { return "bochs" }

// StatusBlind implements launch.StatusBlind.
func (bochsVMM) StatusBlind() {}

// Decode implements launch.VMM: Bochs's exit status carries no verdict.
func (bochsVMM) Decode(int) (guestabi.Verdict, bool) { return 0, false }

// Check implements launch.VMM: before anything boots, a CPU model without
// VMX, a size Bochs refuses or a missing Debian package is one line that
// says what to do.
func (b bochsVMM) Check(spec *launch.Spec) error {
	mib := spec.Memory >> 20
	switch {
	case spec.CPUs < 1 || spec.CPUs > 8:
		return &launch.SpecError{Field: "CPUs", Err: fmt.Errorf("bochs cpus %d: use 1 to 8", spec.CPUs)}
	case mib < 256 || mib > maxBochsMemoryMiB:
		return &launch.SpecError{Field: "Memory", Err: fmt.Errorf("bochs memory %d MiB: Bochs 2.7 takes 256 to %d", mib, maxBochsMemoryMiB)}
	case b.cfg.IPS < 1_000_000:
		return &launch.SpecError{Field: "VMM", Err: fmt.Errorf("bochs ips %d: use at least 1000000", b.cfg.IPS)}
	}
	if err := checkBochsModel(b.cfg.Model); err != nil {
		return &launch.SpecError{Field: "VMM", Err: err}
	}
	if err := CheckBochsPackages(b.cfg.Bochs); err != nil {
		return &launch.SpecError{Field: "VMM", Err: err}
	}
	return nil
}

// Command implements launch.VMM.
func (b bochsVMM) Command(ctx context.Context, spec *launch.Spec, w *launch.Wiring) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, b.cfg.Bochs)
	com1, err := w.ConsolePipe(cmd)
	if err != nil {
		return nil, err
	}
	logPath, err := w.Pipe(cmd, b.log)
	if err != nil {
		return nil, err
	}
	cfg := b.cfg
	cfg.CPUs, cfg.MemoryMiB = spec.CPUs, int(spec.Memory>>20)
	args, err := prepareBochs(ctx, w.Dir(), cfg, com1, logPath)
	if err != nil {
		return nil, err
	}
	cmd.Args = append(cmd.Args, args...)
	cmd.Dir = w.Dir()
	diag := w.Diag("[bochs] ", bochsNoise)
	cmd.Stdout = newBochsStdout(w.MessageLines(), diag)
	cmd.Stderr = diag // stdin stays /dev/null, so the debugger never waits for a key
	// Its own process group, so a stop reaches whatever Bochs started too;
	// Pdeathsig kills it if this process dies first (a go test timeout).
	// Every stop is a SIGKILL: Bochs ignores SIGTERM while its debugger is
	// compiled in.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd, nil
}

// prepareBochs writes the boot CD, bochsrc and the debugger's command file
// into dir and returns Bochs's arguments; com1 and log are the paths Bochs
// writes H's serial console and its own log to.
func prepareBochs(ctx context.Context, dir string, cfg BochsConfig, com1, log string) ([]string, error) {
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
	if err := os.WriteFile(rc, []byte(bochsrc(cfg, iso, com1, log)), 0o644); err != nil {
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

// RunBochs boots H under Bochs with cfg, through package launch, and
// waits for its verdict message. The error is nil exactly when H's
// verdict came; Result.Verdict then says whether the scenario passed.
// Cancelling ctx or passing cfg.Timeout kills Bochs (SIGKILL).
func RunBochs(ctx context.Context, cfg BochsConfig) (Result, error) {
	if err := cfg.defaults(); err != nil {
		return Result{}, err
	}
	blog := newBochsLog(cfg.TailLines)
	spec := launch.Spec{VMM: bochsVMM{cfg: cfg, log: blog}, Kernel: cfg.Kernel, Initrd: cfg.Initrd,
		Memory: uint64(cfg.MemoryMiB) << 20, CPUs: cfg.CPUs, Level: Level, Timeout: cfg.Timeout,
		Console: cfg.Log, TailLines: cfg.TailLines, GuestReports: true}
	note := fmt.Sprintf(" (cpu %s x%d, %d MiB, ips %d)", cfg.Model, cfg.CPUs, cfg.MemoryMiB, cfg.IPS)
	lres, runErr := launch.Run(ctx, spec, observer(cfg.Log, cfg.Bochs, note, true))
	res := resultOf(lres)
	if t := blog.Tail(); len(t) > 0 {
		res.Tails[bochsLogLevel] = t
	}
	if lres.Duration > 0 {
		_, _ = fmt.Fprintf(cfg.Log, "[lab] Bochs exited with status %d after %.1fs, %.1fs of CPU\n",
			res.Status, res.Duration.Seconds(), res.CPUTime.Seconds())
	}
	if s := blog.Summary(5); s != "" {
		_, _ = fmt.Fprintf(cfg.Log, "[lab] bochs.log, most frequent: %s\n", s)
	}

	var se *launch.SpecError
	switch {
	case errors.As(runErr, &se):
		return res, fmt.Errorf("lab %s: %w", cfg.Scenario, se.Err)
	case lres.TimedOut:
		return res, fmt.Errorf("lab %s: timeout: no verdict within %v (%s); Bochs killed%s",
			cfg.Scenario, cfg.Timeout, progress(res.Marks), res.TailsText())
	case ctx.Err() != nil:
		return res, fmt.Errorf("lab %s: %w", cfg.Scenario, ctx.Err())
	case lres.Duration == 0 && runErr != nil:
		return res, fmt.Errorf("lab %s: %w", cfg.Scenario, runErr)
	case runErr != nil:
		why := lres.Reason
		if p := blog.Panic(); p != "" {
			why += "; Bochs panicked: " + p
		}
		return res, fmt.Errorf("lab %s: %s (%s)%s", cfg.Scenario, why, progress(res.Marks), res.TailsText())
	}
	res.Verdict = lres.Verdict
	_, _ = fmt.Fprintf(cfg.Log, "[lab] verdict %d (%s)\n", uint8(res.Verdict), res.Verdict)
	return res, nil
}

// bochsNoise matches Bochs's start-up chatter: plugin loading and the
// banner, which every run prints the same, and the debugger's "Next at
// t=" line.
func bochsNoise(line string) bool {
	return strings.Contains(line, "[PLUGIN]") || strings.Contains(line, "lt_dlhandle") ||
		strings.Contains(line, "LTDL_LIBRARY_PATH") || strings.HasPrefix(line, "=====") ||
		strings.Contains(line, "Bochs x86 Emulator") || strings.Contains(line, "Built from") ||
		strings.Contains(line, "Timestamp:") || strings.Contains(line, "installing rfb") ||
		strings.Contains(line, "using log file") || strings.HasPrefix(line, "ALSA lib") ||
		strings.HasPrefix(line, "Next at t=")
}
