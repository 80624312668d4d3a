package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/gonest/gonest/guestabi"
	"golang.org/x/sys/unix"
)

// The nested demo of `make run` (issue 5). On a host whose KVM can nest,
// make run boots G1 with gonest and an interactive shell, and the user
// types `l2` to boot G2 inside G1. Elsewhere it runs the same demo one
// level down, in the lab: QEMU boots H, whose scenario "demo" boots G1
// with the shell on the console. Without a terminal (CI), G1 runs
// "l2-demo" instead: it types l2 itself, and powers off when G2 has
// reported.

// l2Name is the name gonest-init answers to as the G2 launcher: the images
// link /bin/l2 to it.
const l2Name = "l2"

// paramDemo selects the demo's G1: "shell" (interactive) or "auto".
const paramDemo = "gonest.demo"

// Memory for the demo's levels: G1 holds G2's 256M.
const (
	demoG1Memory = "1G"
	l2Memory     = "256M"
)

// runDemo is H's part of the lab demo: boot G1 with the shell
// (gonest.demo=shell, H's console is the user's terminal) or with l2-demo.
func runDemo(ctx context.Context, env *Env) guestabi.Verdict {
	if v, ok := needNextLevel(ctx, env); !ok {
		return v
	}
	interactive := env.Param(paramDemo, "auto") == "shell"
	scenario := "l2-demo"
	if interactive {
		scenario = "shell"
	}
	args := []string{"run", "-m", demoG1Memory, "-kernel", guestabi.NextKernel, "-initrd", guestabi.NextInitrd}
	if _, err := os.Stat(guestabi.NextDisk); err == nil {
		args = append(args, "-disk", guestabi.NextDisk+",ro")
	}
	appendLine := "quiet " + guestabi.ParamScenario + "=" + scenario + " " + guestabi.ParamLevel + "=" + guestabi.NextLevel(env.Level)
	if !interactive {
		args = append(args, "-timeout", env.Budget(ctx, 0.9, 10*time.Minute).String())
		appendLine += " " + guestabi.ParamTimeout + "=" + env.Budget(ctx, 0.8, 8*time.Minute).String()
		return env.RunChild(ctx, guestabi.GonestBinary, append(args, "-append", appendLine)...)
	}
	args = append(args, "-append", appendLine)
	fmt.Fprintf(env.Console, "\n"+
		"=== gonest demo: H (QEMU's guest, real SVM KVM) now boots G1 with gonest; G1's shell follows.\n"+
		"=== In G1, type `%s` to boot G2 inside G1 with the same gonest. `exit` leaves G1 and ends the demo;\n"+
		"=== Ctrl-A x kills QEMU (H) at any time.\n\n", l2Name)
	env.Log.Info("starting G1", "cmd", guestabi.GonestBinary+" "+strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, guestabi.GonestBinary, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	switch code := exitStatus(err); {
	case code == 0:
		env.Log.Info("G1 ended", "exit", 0)
		return guestabi.Pass
	case code > 0:
		env.Log.Error("G1 ended", "exit", code)
		return guestabi.Fail
	}
	env.Log.Error("gonest did not run", "err", err)
	return guestabi.SetupError
}

// runL2Demo is G1's part of the non-interactive demo: run the one command
// a user would type, then power off (Env.PowerOff) if G2 passed.
func runL2Demo(ctx context.Context, env *Env) guestabi.Verdict {
	env.Log.Info("running the demo command, as a user would type it in G1's shell", "cmd", l2Name)
	v := env.RunChild(ctx, "/bin/"+l2Name)
	env.PowerOff = true
	return v
}

// runHello greets from the level it runs at: the guest the demo's l2
// boots.
func runHello(_ context.Context, env *Env) guestabi.Verdict {
	var uts unix.Utsname
	release := "?"
	if err := unix.Uname(&uts); err == nil {
		release = unix.ByteSliceToString(uts.Release[:])
	}
	fmt.Fprintf(env.Console, "\n    Hello from %s! Linux %s on %d CPU(s), booted by gonest at level %s.\n\n",
		env.Level, release, runtime.NumCPU(), previousLevel(env.Level))
	return guestabi.Pass
}

// previousLevel names the level that runs level's VMM.
func previousLevel(level string) string {
	switch level {
	case "G1":
		return "H"
	case "G2":
		return "G1"
	case "G3":
		return "G2"
	}
	return "?"
}

const l2Usage = `Usage: l2 [-m SIZE] [-scenario NAME] [-timeout DURATION]

Boot the next level (G2 when typed in G1) with gonest, from the images
mounted at %s, and wait for its verdict: G2 says hello and
powers off. The exit status is G2's verdict (0 pass), or gonest's own
exit code when gonest fails.

Flags:
`

// l2Main is /bin/l2: the one command that boots the next level with
// gonest. It prints the gonest command it runs; its own messages go to
// stderr, so that a scenario running it sees only the guest on stdout.
func l2Main(args []string) int {
	log := slog.New(newConsoleHandler(os.Stderr, "l2: "))
	fs := flag.NewFlagSet(l2Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	mem := fs.String("m", l2Memory, "memory for the next level")
	scenario := fs.String("scenario", "hello", "the next level's gonest.scenario")
	timeout := fs.Duration("timeout", 5*time.Minute, "gonest -timeout")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stdout, l2Usage, guestabi.NextDir)
			fs.SetOutput(os.Stdout)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(os.Stderr, "l2: %v (see l2 -h)\n", err)
		return 2
	}
	ctx := context.Background()
	level := "G1"
	if b, err := os.ReadFile("/proc/cmdline"); err == nil {
		if l := parseCmdline(strings.TrimSpace(string(b)))[guestabi.ParamLevel]; l != "" {
			level = l
		}
	}
	next := guestabi.NextLevel(level)
	if _, err := os.Stat("/dev/kvm"); err != nil {
		log.Error("no /dev/kvm here, so no guest can be booted: is this CPU's svm/vmx hidden (gonest -nested off)?", "level", level)
		return int(guestabi.NoKVM)
	}
	if err := mountNextImages(ctx, log, nextImagesWait); err != nil {
		log.Error("the next level's images are missing", "err", err)
		return int(guestabi.SetupError)
	}
	gargs := []string{"run", "-m", *mem, "-timeout", timeout.String(),
		"-kernel", guestabi.NextKernel, "-initrd", guestabi.NextInitrd,
		"-append", "quiet " + guestabi.ParamScenario + "=" + *scenario + " " + guestabi.ParamLevel + "=" + next}
	log.Info("booting "+next+" inside "+level+" with gonest", "cmd", guestabi.GonestBinary+" "+strings.Join(gargs, " "))
	start := time.Now()
	cmd := exec.Command(guestabi.GonestBinary, gargs...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	code := exitStatus(err)
	if code < 0 {
		log.Error("gonest did not run", "err", err)
		return 1
	}
	log.Info(next+" finished", "exit", code, "verdict", guestabi.Verdict(code), "took", time.Since(start).Round(100*time.Millisecond))
	return code
}
