package execinit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gonest/gonest/guest/initkit"
	"github.com/gonest/gonest/guest/portio"
	"github.com/gonest/gonest/guest/report"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/images/kmod"
	"github.com/gonest/gonest/vmexec/job"
)

// Level names the exec guest in its messages.
const Level = "exec"

// Kernel parameters read by the init (package vmexec sets them).
const (
	paramVerbose   = "gonest.exec.v"
	paramTransport = "gonest.exec.root"
)

// portWait bounds the wait for the console ports to appear after
// virtio_console loaded; a nested guest on an emulated CPU probes slowly.
const portWait = 60 * time.Second

// Main is the guest's PID 1: it loads the modules, reads the job, builds
// the command's root from the host's files, runs the command, reports its
// exit status, and stops the VM. It never returns.
func Main() {
	params := map[string]string{}
	// proc first: the command line says how much to log.
	mountErr := mountEarly()
	if p, err := initkit.ReadCmdline(); err == nil {
		params = p
	}
	verbose := params[paramVerbose] == "1"
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	log := slog.New(minLevel{h: initkit.NewConsoleHandler(os.Stdout, "gonest-exec: "), min: level})
	var ports report.Ports
	rep, err := openReporter(log, &ports)
	if err != nil {
		log.Error("cannot reach the VMM's ports", "err", err)
	}
	rep.Marker(guestabi.MarkerInitStarted)
	st, err := run(log, rep, params, mountErr)
	if err != nil {
		log.Error("the command could not run", "err", err)
		if serr := rep.Send(guestabi.EventMessage(job.EventError, "error", truncate(err.Error(), 1024))); serr != nil {
			log.Error("error not reported", "err", serr)
		}
		st = Status{Code: 125}
	} else if serr := rep.Send(guestabi.EventMessage(job.EventExit, st.fields()...)); serr != nil {
		log.Error("exit status not reported", "err", serr)
	}
	rep.Marker(guestabi.MarkerScenarioEnd)
	stop(log, ports, st.Code)
}

// openReporter opens the VMM's marker, message and exit ports (ioperm: no
// /dev/port needed).
func openReporter(log *slog.Logger, ports *report.Ports) (*report.Reporter, error) {
	w, err := portio.Open(guestabi.MarkerPort, guestabi.MessagePort, guestabi.ExitPort)
	if err != nil {
		return report.New(Level, nil, log), err
	}
	*ports = w
	return report.New(Level, w, log), nil
}

// run does everything between the first marker and the exit status.
func run(log *slog.Logger, rep *report.Reporter, params map[string]string, mountErr error) (Status, error) {
	if mountErr != nil {
		return Status{}, mountErr
	}
	transport := job.TransportVirtioFS
	if params[paramTransport] == job.Transport9P {
		transport = job.Transport9P
	}
	if err := loadModules(log); err != nil {
		return Status{}, err
	}
	ports, err := waitPorts(context.Background(), "/sys/class/virtio-ports", "/dev", job.Ports, portWait)
	if err != nil {
		return Status{}, err
	}
	ctlFD, err := unix.Open(ports[job.PortControl], unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Status{}, fmt.Errorf("open the control port: %w", err)
	}
	ctl := bufio.NewReader(os.NewFile(uintptr(ctlFD), job.PortControl))
	j, err := job.Read(ctl)
	if err != nil {
		return Status{}, err
	}
	log.Info("job", "args", strings.Join(j.Args, " "), "dir", j.Dir, "uid", j.UID, "submounts", strings.Join(j.Root.Submounts, ","))
	if j.Root.Transport != transport {
		return Status{}, fmt.Errorf("the job's root is over %s but the kernel was told %s", j.Root.Transport, transport)
	}
	io, err := openStdio(ports)
	if err != nil {
		return Status{}, err
	}
	if err := buildRoot(log, j); err != nil {
		return Status{}, err
	}
	if err := switchRoot(); err != nil {
		return Status{}, err
	}
	if err := finishDev(log); err != nil {
		return Status{}, err
	}
	openKVM(log)
	setUp(log, j)
	if err := unix.Chdir(j.Dir); err != nil {
		return Status{Code: codeCannotRun, Err: fmt.Sprintf("working directory %s: %v", j.Dir, err)}, nil
	}
	st := runCommand(log, j, io, ctl, func(pid int) {
		rep.Marker(guestabi.MarkerScenarioStart)
		rep.Event(job.EventStarted, "pid", strconv.Itoa(pid))
	})
	// What the command wrote through mappings or to the overlay reaches
	// the host's files before the host hears the status.
	unix.Sync()
	log.Info("command ended", "code", st.Code, "signal", st.Signal, "error", st.Err)
	return st, nil
}

// mountEarly mounts /proc, /sys and /dev (devtmpfs: the ports' and
// /dev/kvm's nodes) in the initramfs.
func mountEarly() error {
	var errs []error
	for _, m := range []struct{ src, dst, fs, data string }{
		{"proc", "/proc", "proc", ""},
		{"sysfs", "/sys", "sysfs", ""},
		{"devtmpfs", "/dev", "devtmpfs", "mode=0755"},
	} {
		if err := os.MkdirAll(m.dst, 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := unix.Mount(m.src, m.dst, m.fs, unix.MS_NOSUID, m.data); err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fs, m.dst, err))
		}
	}
	return errors.Join(errs...)
}

// loadModules loads what the host listed in the initramfs
// (job.ModuleList: each module after its dependencies; built-in ones
// are not there): the virtio and file system modules, then the KVM module
// when the CPU offers SVM or VMX, so that the command can run guests of
// its own, then any extra ones.
func loadModules(log *slog.Logger) error {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return fmt.Errorf("uname: %w", err)
	}
	dir := filepath.Join(guestabi.ModulesRoot, unix.ByteSliceToString(uts.Release[:]))
	list, err := os.ReadFile(filepath.Join(dir, job.ModuleList))
	if err != nil {
		return fmt.Errorf("the initramfs holds no modules for this kernel: %w", err)
	}
	entries, err := parseLoadList(list)
	if err != nil {
		return err
	}
	vendor, flags := initkit.CPUInfo()
	kvm := flags["svm"] || flags["vmx"]
	if !kvm {
		log.Info("no svm or vmx in this CPU: no /dev/kvm for the command")
	}
	for _, e := range entries {
		if e.group == job.GroupKVM && !kvm {
			continue
		}
		err := initkit.LoadModuleFile(log, dir, kmod.Module{Name: e.name, Path: e.path, Optional: e.optional})
		switch {
		case err == nil:
		case e.optional:
			log.Info("optional module not loaded", "name", e.name, "err", err)
		case e.group == job.GroupKVM:
			log.Info("KVM module not loaded: no /dev/kvm for the command", "module", initkit.KVMModule(vendor), "err", err)
			kvm = false
		default:
			return fmt.Errorf("module %s: %w", e.name, err)
		}
	}
	return nil
}

// loadEntry is one line of the load list.
type loadEntry struct {
	group, name, path string
	optional          bool
}

// parseLoadList reads "GROUP[?] NAME PATH" lines; a path must be a clean
// relative one, so that the list cannot name a file outside the modules
// directory.
func parseLoadList(b []byte) ([]loadEntry, error) {
	var out []loadEntry
	for i, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("module list line %d: %q: want GROUP NAME PATH", i+1, line)
		}
		e := loadEntry{name: f[1], path: f[2]}
		e.group, e.optional = strings.CutSuffix(f[0], "?")
		switch {
		case e.group != job.GroupBase && e.group != job.GroupKVM && e.group != job.GroupExtra:
			return nil, fmt.Errorf("module list line %d: unknown group %q", i+1, e.group)
		case filepath.IsAbs(e.path) || filepath.Clean(e.path) != e.path || strings.HasPrefix(e.path, "../"):
			return nil, fmt.Errorf("module list line %d: bad path %q", i+1, e.path)
		}
		out = append(out, e)
	}
	return out, nil
}

// openKVM lets the command's user open /dev/kvm, as the kvm group and a
// udev rule do on a host.
func openKVM(log *slog.Logger) {
	if err := os.Chmod("/dev/kvm", 0o666); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn("/dev/kvm not opened to the command's user", "err", err)
	}
}

// waitPorts waits until every port in names has appeared in sysDir
// (/sys/class/virtio-ports/vportNpM/name) with its node in devDir, and
// returns each name's device path.
func waitPorts(ctx context.Context, sysDir, devDir string, names []string, wait time.Duration) (map[string]string, error) {
	deadline := time.Now().Add(wait)
	for {
		found := map[string]string{}
		dirs, _ := filepath.Glob(filepath.Join(sysDir, "vport*"))
		for _, d := range dirs {
			b, err := os.ReadFile(filepath.Join(d, "name"))
			if err != nil {
				continue
			}
			dev := filepath.Join(devDir, filepath.Base(d))
			if _, err := os.Stat(dev); err == nil {
				found[strings.TrimSpace(string(b))] = dev
			}
		}
		var missing []string
		for _, n := range names {
			if _, ok := found[n]; !ok {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			return found, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("virtio-console ports %s did not appear within %v (is virtio_console loaded? ports seen: %d)",
				strings.Join(missing, ", "), wait, len(found))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop ends the VM with the command's code: the exit port first (gonest's
// exit device, QEMU's isa-debug-exit), then, under a VMM without one, an
// ACPI poweroff. PID 1 never exits: the kernel would panic.
func stop(log *slog.Logger, ports report.Ports, code int) {
	unix.Sync()
	if ports != nil {
		if err := ports.OutB(guestabi.ExitPort, uint8(code)); err != nil {
			log.Warn("exit port", "err", err)
		}
	}
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		log.Error("power off", "err", err)
	}
	for {
		time.Sleep(time.Hour)
	}
}

// minLevel drops records below min.
type minLevel struct {
	h   slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.h.Enabled(ctx, l)
}
func (m minLevel) Handle(ctx context.Context, r slog.Record) error { return m.h.Handle(ctx, r) }
func (m minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h: m.h.WithAttrs(a), min: m.min}
}
func (m minLevel) WithGroup(g string) slog.Handler { return minLevel{h: m.h.WithGroup(g), min: m.min} }
