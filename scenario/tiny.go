package scenario

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/tinyelf"
	"github.com/gonest/gonest/launch"
)

// defaultTinyCode is the tiny guest's exit code when gonest.code is absent.
const defaultTinyCode = 42

// tinyGuestMemory is all a tiny guest needs: its code sits at 1 MiB.
const tinyGuestMemory = 16 << 20

// defaultTinyTimeout bounds a tiny guest when the scenario has no deadline.
const defaultTinyTimeout = time.Minute

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

// tinyGuest is the tiny guest's code, run in long mode (gonest's ELF entry):
// the "init started" marker, the greeting on COM1, the "scenario end"
// marker, its verdict message (level names it), then code to the exit port.
func tinyGuest(code uint8, level string) ([]byte, error) {
	msg := guestabi.VerdictMessage(guestabi.Verdict(code))
	msg.Level = level
	line, err := guestabi.EncodeMessage(msg)
	if err != nil {
		return nil, err
	}
	var a tinyelf.Asm
	a.MovDX(guestabi.MarkerPort).MovAL(uint8(guestabi.MarkerInitStarted)).OutB()
	a.Print(boot.COM1Port, tinyGreeting(code)+"\n")
	a.MovDX(guestabi.MarkerPort).MovAL(uint8(guestabi.MarkerScenarioEnd)).OutB()
	a.Print(guestabi.MessagePort, string(line))
	a.Exit(guestabi.ExitPort, code).Hlt()
	return a.Bytes(), nil
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
	dir, err := os.MkdirTemp("", "tiny-")
	if err != nil {
		env.Log.Error("temp dir for the tiny guest", "err", err)
		return guestabi.SetupError
	}
	defer os.RemoveAll(dir)
	level := guestabi.NextLevel(env.Level)
	code64, err := tinyGuest(code, level)
	var prog string
	if err == nil {
		prog, err = tinyelf.Write(dir, "tiny.elf", code64)
	}
	if err != nil {
		env.Log.Error("write the tiny guest", "err", err)
		return guestabi.SetupError
	}
	greeted := false
	obs := &launch.Observer{Line: func(l string) bool {
		greeted = greeted || l == tinyGreeting(code)
		return false
	}}
	spec := launch.Spec{VMM: launch.Gonest{Binary: guestabi.GonestBinary, Forward: true}, Kernel: prog,
		Memory: tinyGuestMemory, Level: level, Timeout: env.Budget(ctx, 1, defaultTinyTimeout),
		GuestReports: true, Console: env.Console}
	env.Log.Info("starting a tiny guest", "level", level, "code", code)
	v, _ := env.RunNext(ctx, spec, guestabi.Verdict(code), obs)
	if v == guestabi.Verdict(code) && !greeted {
		env.Log.Error("the tiny guest's code came back but its greeting never did: its console is broken", "level", level)
		return guestabi.Fail
	}
	return v
}
