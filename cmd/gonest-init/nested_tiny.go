package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/tinyelf"
)

// defaultTinyCode is the tiny guest's exit code when gonest.code is absent.
const defaultTinyCode = 42

// com1Port is the first UART (ttyS0), where gonest's console reads the
// tiny guest's bytes (boot.COM1Port; package boot is not imported here
// because this package has a function of that name).
const com1Port = 0x3F8

// tinyGuestMemory is all a tiny guest needs: its code sits at 1 MiB.
const tinyGuestMemory = "16M"

// tinyCode parses gonest.code: 0 to 127, because the lab reads the
// verdict from QEMU's exit status (v<<1)|1.
func tinyCode(s string) (uint8, error) {
	if s == "" {
		return defaultTinyCode, nil
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil || n > 127 {
		return 0, fmt.Errorf("%s=%q: want a number from 0 to 127", guestabi.ParamCode, s)
	}
	return uint8(n), nil
}

// tinyGreeting is the line the tiny guest prints; its arrival proves the
// innermost serial console works.
func tinyGreeting(code uint8) string {
	return fmt.Sprintf("hello from a tiny guest: exiting with code %d", code)
}

// tinyGuest is the tiny guest's code: the "init started" marker, the
// greeting on COM1, the "scenario end" marker, then code to the exit port.
// It runs in long mode (gonest's ELF entry) and never returns.
func tinyGuest(code uint8) []byte {
	var a tinyelf.Asm
	a.MovDX(guestabi.MarkerPort).MovAL(uint8(guestabi.MarkerInitStarted)).OutB()
	a.Print(com1Port, tinyGreeting(code)+"\n")
	a.MovDX(guestabi.MarkerPort).MovAL(uint8(guestabi.MarkerScenarioEnd)).OutB()
	a.Exit(guestabi.ExitPort, code).Hlt()
	return a.Bytes()
}

// runTinyGuest boots a tiny ELF guest with gonest (the l2-tiny chain's
// G2) and returns its exit code as this level's verdict, so the code
// travels up unchanged: G2's code ends this gonest with it, this init
// writes it to its own exit port, and so on up to the lab.
func runTinyGuest(ctx context.Context, env *Env) guestabi.Verdict {
	code, err := tinyCode(env.Param(guestabi.ParamCode, ""))
	if err != nil {
		env.Log.Error("bad tiny guest exit code", "err", err)
		return guestabi.SetupError
	}
	if v, ok := needKVM(env); !ok {
		return v
	}
	if _, err := os.Stat(guestabi.GonestBinary); err != nil {
		env.Log.Error("image lacks gonest; rebuild with `make images`", "missing", guestabi.GonestBinary)
		return guestabi.SetupError
	}
	dir, err := os.MkdirTemp("", "tiny-")
	if err != nil {
		env.Log.Error("temp dir for the tiny guest", "err", err)
		return guestabi.SetupError
	}
	defer os.RemoveAll(dir)
	kernel, err := tinyelf.Write(dir, "tiny.elf", tinyGuest(code))
	if err != nil {
		env.Log.Error("write the tiny guest", "err", err)
		return guestabi.SetupError
	}

	level := guestabi.NextLevel(env.Level)
	greeting := tinyGreeting(code)
	out := newLineWriter(env.Console, "["+level+"] ", tailLines)
	errOut := newLineWriter(env.Console, "", tailLines)
	args := []string{"run", "-kernel", kernel, "-m", tinyGuestMemory, "-forward",
		"-timeout", env.Budget(ctx, 0.9, defaultTinyTimeout).String()}
	cmd := exec.CommandContext(ctx, guestabi.GonestBinary, args...)
	cmd.Stdout, cmd.Stderr = out, errOut
	env.Log.Info("starting a tiny guest", "level", level, "code", code, "cmd", strings.Join(cmd.Args, " "))
	runErr := cmd.Run()
	for _, w := range []*lineWriter{out, errOut} {
		if ferr := w.Flush(); ferr != nil {
			env.Log.Warn("console write", "err", ferr)
		}
	}
	// The tiny guest prints one line, so the tail holds all it said.
	v, why := tinyVerdict(runErr, slices.Contains(out.Tail(), greeting), code)
	if v == guestabi.Verdict(code) {
		env.Log.Info("tiny guest's exit code came back", "level", level, "code", code)
		return v
	}
	env.Log.Error("tiny guest did not end as asked", "level", level, "want", code, "verdict", v, "why", why)
	env.printTail(level+" console", out.Tail())
	env.printTail("gonest stderr", errOut.Tail())
	return v
}

// defaultTinyTimeout bounds a tiny guest when the scenario has no deadline.
const defaultTinyTimeout = time.Minute

// tinyVerdict turns gonest's exit into this level's verdict: the guest's
// exit code, passed on as it is, once the greeting proved the guest ran.
func tinyVerdict(err error, greeted bool, want uint8) (guestabi.Verdict, string) {
	status := exitStatus(err)
	if status < 0 {
		return guestabi.Fail, fmt.Sprintf("gonest did not exit normally: %v", err)
	}
	switch {
	case !greeted:
		return guestabi.Fail, fmt.Sprintf("gonest exited with status %d and the guest's greeting never arrived", status)
	case status > 127:
		return guestabi.Fail, fmt.Sprintf("gonest exited with status %d, which no verdict can carry", status)
	case status != int(want):
		return guestabi.Verdict(status), fmt.Sprintf("gonest exited with status %d, not the guest's code %d", status, want)
	}
	return guestabi.Verdict(status), "the guest's code"
}
