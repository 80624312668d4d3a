package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gonest/gonest/guest/initkit"
	"github.com/gonest/gonest/guest/report"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/scenario"
	"golang.org/x/sys/unix"
)

func main() {
	// Invoked as /bin/l2 (a link to this binary): the one-command G2
	// launcher of the nested demo, not an init.
	if filepath.Base(os.Args[0]) == scenario.L2Name {
		os.Exit(l2Main(os.Args[1:]))
	}
	if helper, ok := benchHelpers[filepath.Base(os.Args[0])]; ok {
		os.Exit(helper(os.Args[1:]))
	}
	log := initkit.NewLogger(os.Stdout, "init: ")
	pid1 := os.Getpid() == 1
	start := time.Now()
	if pid1 {
		if err := initkit.MountAll(); err != nil {
			log.Error("mounts incomplete", "err", err)
		}
	}
	params, cmdlineErr := initkit.ReadCmdline()
	level := params[guestabi.ParamLevel]
	if level == "" {
		level = "H"
	}
	rep, err := report.Open(level, log)
	if err != nil {
		log.Warn("no port access", "err", err)
	}
	if params[guestabi.ParamMarkers] == guestabi.MarkersAsMessages {
		rep.MarkersAsMessages() // a VMM without a marker device (Bochs)
	}
	env := &scenario.Env{Log: log, Console: os.Stdout, Level: level, Params: params, Report: rep}
	v := guestabi.SetupError
	if cmdlineErr != nil {
		log.Error("cannot read the kernel command line", "err", cmdlineErr)
	} else {
		v = boot(env, pid1, start, append(scenario.Table(), benchScenarios()...))
	}
	reportVerdict(env, v)
	end(log, v, pid1)
}

// boot does everything from the first marker up to the verdict: modules,
// the next level's images, then the scenario gonest.scenario names.
func boot(env *scenario.Env, pid1 bool, start time.Time, table []scenario.Scenario) guestabi.Verdict {
	log, rep := env.Log, env.Report
	rep.Marker(guestabi.MarkerInitStarted)
	name := env.Params[guestabi.ParamScenario]
	log.Info("gonest-init started", "level", env.Level, "scenario", name, "pid1", pid1)

	env.ModuleErrors = initkit.LoadModules(log)
	// Only the scenarios that launch a next level need its images, and
	// they wait for the disk themselves; its absence at boot is normal.
	if err := initkit.MountNextImages(context.Background(), log, 0); errors.Is(err, initkit.ErrNoNextDisk) {
		log.Info("next-level images: no disk attached at boot")
	} else if err != nil {
		log.Warn("next-level images", "err", err)
	}
	rep.Marker(guestabi.MarkerModulesLoaded)
	log.Info("boot done", "took", time.Since(start).Round(time.Millisecond))

	sc, ok := scenario.Lookup(table, name)
	if !ok {
		var known []string
		for _, s := range table {
			known = append(known, s.Name)
		}
		hint := "unknown scenario; pass gonest.scenario=NAME on the kernel command line"
		if strings.HasPrefix(name, "bench-") {
			hint = "unknown scenario: the benchmarks are in the bench image's init only (make bench-images: images/out/h-bench.cpio.gz)"
		}
		log.Error(hint, "scenario", name, "known", strings.Join(known, ","))
		return guestabi.UnknownScenario
	}
	ctx := context.Background()
	if t := env.Params[guestabi.ParamTimeout]; t != "" {
		d, err := time.ParseDuration(t)
		if err != nil {
			log.Error("bad "+guestabi.ParamTimeout+"; use a Go duration such as 5m", "value", t)
			return guestabi.SetupError
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	rep.Marker(guestabi.MarkerScenarioStart)
	scStart := time.Now()
	v := sc.Run(ctx, env)
	rep.Marker(guestabi.MarkerScenarioEnd)
	log.Info("scenario finished", "scenario", sc.Name, "verdict", v, "took", time.Since(scStart).Round(time.Millisecond))
	return v
}

// reportVerdict tells people (the log) and the level above (the verdict
// message and the exit port) how the scenario ended. The console is
// drained first, so that the verdict ends the run only once its log
// lines are out. With Env.PowerOff and a pass, the exit port is skipped:
// the VMM's ACPI poweroff path ends the run instead, after the message.
func reportVerdict(env *scenario.Env, v guestabi.Verdict) {
	env.Log.Info("verdict", "code", uint8(v), "verdict", v)
	unix.Sync()
	if err := initkit.DrainConsole(os.Stdout); err != nil {
		env.Log.Debug("console not drained", "err", err)
	}
	if env.PowerOff && v == guestabi.Pass {
		env.Log.Info("powering off (reboot(2) POWER_OFF) instead of writing the exit port")
		if err := env.Report.Send(guestabi.VerdictMessage(v)); err != nil {
			env.Log.Warn("verdict message not sent", "err", err)
		}
		return
	}
	if err := env.Report.Verdict(v); err != nil {
		env.Log.Warn("verdict not reported to the VMM", "err", err)
	}
}

// end stops the machine once the verdict is out: an init that is not PID
// 1 exits with it; PID 1 powers off if the VMM is still running (it has
// no exit device on the port, or the scenario asked for a poweroff).
func end(log *slog.Logger, v guestabi.Verdict, pid1 bool) {
	if !pid1 {
		os.Exit(int(v))
	}
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		log.Error("power off", "err", err)
	}
	for {
		time.Sleep(time.Hour) // PID 1 must not exit: the kernel would panic
	}
}
