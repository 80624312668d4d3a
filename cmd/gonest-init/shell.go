package main

import (
	"context"
	"os"
	"syscall"

	"github.com/gonest/gonest/guestabi"
)

// runShell gives the console to an interactive shell, as the session
// leader with the console as its controlling terminal so ^C works.
func runShell(ctx context.Context, env *Env) guestabi.Verdict {
	if _, err := os.Stat(guestabi.ShellPath); err != nil {
		env.Log.Error("no shell in this image (G2's image has none)", "path", guestabi.ShellPath)
		return guestabi.SetupError
	}
	env.Log.Info("starting shell; exit it to power off", "path", guestabi.ShellPath)
	cmd := env.Command(ctx, guestabi.ShellPath)
	cmd.Stdin = os.Stdin
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.Env = append(cmd.Env, "HOME=/root", "TERM=vt100")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Run(); err != nil {
		env.Log.Info("shell ended", "err", err)
	}
	return guestabi.Pass
}
