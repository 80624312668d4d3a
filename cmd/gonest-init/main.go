package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gonest/gonest/guestabi"
	"golang.org/x/sys/unix"
)

func main() {
	// Invoked as /bin/l2 (a link to this binary): the one-command G2
	// launcher of the nested demo, not an init.
	if filepath.Base(os.Args[0]) == l2Name {
		os.Exit(l2Main(os.Args[1:]))
	}
	log := slog.New(newConsoleHandler(os.Stdout, "init: "))
	pid1 := os.Getpid() == 1
	start := time.Now()
	if pid1 {
		if err := mountAll(); err != nil {
			log.Error("mounts incomplete", "err", err)
		}
	}
	pw, err := openPorts()
	if err != nil {
		log.Warn("no port access", "err", err)
	}
	env := &Env{Log: log, Console: os.Stdout}
	verdict := boot(env, pw, pid1, start)
	end(log, pw, verdict, pid1, env.PowerOff)
}

// boot does everything from the first marker up to the verdict.
func boot(env *Env, pw *portWriter, pid1 bool, start time.Time) guestabi.Verdict {
	log := env.Log
	marker(log, pw, guestabi.MarkerInitStarted)

	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		log.Error("cannot read the kernel command line", "err", err)
		return guestabi.SetupError
	}
	params := parseCmdline(strings.TrimSpace(string(cmdline)))
	env.Level, env.Params = params[guestabi.ParamLevel], params
	if env.Level == "" {
		env.Level = "H"
	}
	name := params[guestabi.ParamScenario]
	log.Info("gonest-init started", "level", env.Level, "scenario", name, "pid1", pid1)

	env.ModuleErrors = loadModules(log)
	// Only the scenarios that launch a next level need its images, and
	// they wait for the disk themselves; its absence at boot is normal.
	if err := mountNextImages(context.Background(), log, 0); errors.Is(err, errNoNextDisk) {
		log.Info("next-level images: no disk attached at boot")
	} else if err != nil {
		log.Warn("next-level images", "err", err)
	}
	marker(log, pw, guestabi.MarkerModulesLoaded)
	log.Info("boot done", "took", time.Since(start).Round(time.Millisecond))

	sc, ok := lookupScenario(name)
	if !ok {
		var known []string
		for _, s := range scenarios {
			known = append(known, s.Name)
		}
		log.Error("unknown scenario; pass gonest.scenario=NAME on the kernel command line",
			"scenario", name, "known", strings.Join(known, ","))
		return guestabi.UnknownScenario
	}
	ctx := context.Background()
	if t := params[guestabi.ParamTimeout]; t != "" {
		d, err := time.ParseDuration(t)
		if err != nil {
			log.Error("bad "+guestabi.ParamTimeout+"; use a Go duration such as 5m", "value", t)
			return guestabi.SetupError
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	marker(log, pw, guestabi.MarkerScenarioStart)
	scStart := time.Now()
	v := sc.Run(ctx, env)
	marker(log, pw, guestabi.MarkerScenarioEnd)
	log.Info("scenario finished", "scenario", sc.Name, "verdict", v, "took", time.Since(scStart).Round(time.Millisecond))
	return v
}

// marker writes a boot marker; a failure is logged, never fatal.
func marker(log *slog.Logger, pw *portWriter, m guestabi.Marker) {
	if err := pw.Marker(m); err != nil {
		log.Debug("marker not written", "marker", m, "err", err)
	}
}

// end reports the verdict and stops the machine. With powerOff (a
// scenario that passed and asked for it, Env.PowerOff) it skips the exit
// port and powers off, so the VMM's ACPI poweroff path ends the run.
func end(log *slog.Logger, pw *portWriter, v guestabi.Verdict, pid1, powerOff bool) {
	// The parent level's RunChild parses this line (verdictPrefix).
	log.Info("verdict", "code", uint8(v), "verdict", v)
	unix.Sync()
	drainConsole(log)
	if powerOff && v == guestabi.Pass && pid1 {
		log.Info("powering off (reboot(2) POWER_OFF) instead of writing the exit port")
	} else if err := pw.Exit(v); err != nil {
		log.Warn("verdict not written to the exit port", "err", err)
	}
	if !pid1 {
		os.Exit(int(v))
	}
	// Still running: the VMM has no exit device on the port.
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		log.Error("power off", "err", err)
	}
	for {
		time.Sleep(time.Hour) // PID 1 must not exit: the kernel would panic
	}
}

// drainConsole waits until the console has sent everything written to it
// (tcdrain). The tty layer queues a line and sends it from the UART's
// interrupts; a power-off right after would drop what is still queued,
// the verdict line included. Under an emulator that sends a byte per
// thousands of instructions (Bochs) that is most of the last lines.
func drainConsole(log *slog.Logger) {
	// TCSBRK with a non-zero argument is tcdrain(3).
	if err := unix.IoctlSetInt(int(os.Stdout.Fd()), unix.TCSBRK, 1); err != nil && !errors.Is(err, unix.ENOTTY) {
		log.Debug("console not drained", "err", err)
	}
}
