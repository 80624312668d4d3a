package scenario

import (
	"context"
	"fmt"
	"os"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
)

// The nested demo of `make run`. On a host whose KVM can nest, make run
// boots G1 with gonest and an interactive shell, and the user types `l2`
// to boot G2 inside G1. Elsewhere it runs the same demo one level down,
// in the lab: QEMU boots H, whose scenario "demo" boots G1 with the shell
// on the console. Without a terminal (CI), G1 runs "l2-demo" instead: it
// types l2 itself, and powers off when G2 has reported.

// L2Name is the name gonest-init answers to as the G2 launcher: the
// images link /bin/l2 to it.
const L2Name = "l2"

// demoG1Memory is the demo's G1: room for G2's 256M.
const demoG1Memory = 1 << 30

// runDemo is H's part of the lab demo: boot G1 with the shell
// (gonest.demo=shell, H's console is the user's terminal) or with l2-demo.
func runDemo(ctx context.Context, env *Env) guestabi.Verdict {
	if v, ok := NeedNextLevel(ctx, env); !ok {
		return v
	}
	interactive := env.Param(guestabi.ParamDemo, "auto") == "shell"
	scenario := "l2-demo"
	if interactive {
		scenario = "shell"
	}
	spec := env.NextSpec(ctx, scenario, demoG1Memory)
	if _, err := os.Stat(guestabi.NextDisk); err == nil {
		spec.Disks = []launch.Disk{{Path: guestabi.NextDisk, ReadOnly: true}}
	}
	if !interactive {
		v, _ := env.RunNext(ctx, spec, guestabi.Pass, nil)
		return v
	}
	spec.Interactive, spec.Timeout, spec.GuestTimeout = true, 0, 0
	fmt.Fprintf(env.Console, "\n"+
		"=== gonest demo: H (QEMU's guest, real SVM KVM) now boots G1 with gonest; G1's shell follows.\n"+
		"=== In G1, type `%s` to boot G2 inside G1 with the same gonest. `exit` leaves G1 and ends the demo;\n"+
		"=== Ctrl-A x kills QEMU (H) at any time.\n\n", L2Name)
	res, err := env.Launch(ctx, spec, nil)
	switch {
	case err == nil || res.ExitCode == 0:
		env.Log.Info("G1 ended", "exit", res.ExitCode)
		return guestabi.Pass
	case res.ExitCode > 0:
		env.Log.Error("G1 ended", "exit", res.ExitCode)
		return guestabi.Fail
	}
	env.Log.Error("gonest did not run", "err", err)
	return guestabi.SetupError
}

// runL2Demo is G1's part of the non-interactive demo: run the one command
// a user would type, then power off (Env.PowerOff) if G2 passed.
func runL2Demo(ctx context.Context, env *Env) guestabi.Verdict {
	env.Log.Info("running the demo command, as a user would type it in G1's shell", "cmd", L2Name)
	// Its stdin is no terminal, so l2 prefixes G2's console with "[G2] ".
	err := env.Command(ctx, "/bin/"+L2Name).Run()
	env.PowerOff = true
	switch code := exitStatus(err); {
	case code == 0:
		return guestabi.Pass
	case code > 0 && code < 0x80:
		env.Log.Error("the demo command failed", "cmd", L2Name, "exit", code)
		return guestabi.Verdict(code)
	default:
		env.Log.Error("the demo command did not run", "cmd", L2Name, "err", err)
		return guestabi.Fail
	}
}
