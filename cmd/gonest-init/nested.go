package main

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/gonest/gonest/guestabi"
)

// ParamNext lists the scenarios of the levels below this one, nearest
// first: gonest.next=nested,kvmtests at H runs "nested" in G1 and
// "kvmtests" in G2. Empty means the next level runs kvmtests.
const ParamNext = "gonest.next"

// nextCmdline is what this level adds to the next level's kernel command
// line; gonest puts its own defaults (console=ttyS0 panic=-1 ...) first.
// quiet matters: each console byte of a nested guest costs exits at
// every level. A non-zero timeout becomes the next level's gonest.timeout.
func nextCmdline(level, next string, timeout time.Duration) string {
	scenario, rest, _ := strings.Cut(next, ",")
	if scenario == "" {
		scenario = "kvmtests"
	}
	parts := []string{"quiet",
		guestabi.ParamScenario + "=" + scenario, guestabi.ParamLevel + "=" + guestabi.NextLevel(level)}
	if rest != "" {
		parts = append(parts, ParamNext+"="+rest)
	}
	if timeout > 0 {
		parts = append(parts, guestabi.ParamTimeout+"="+timeout.String())
	}
	return strings.Join(parts, " ")
}

// runNested boots the next level with gonest from the images packed at
// guestabi.NextKernel and NextInitrd, and passes its verdict up (see
// Env.RunChild).
func runNested(ctx context.Context, env *Env) guestabi.Verdict {
	for _, p := range []string{guestabi.GonestBinary, guestabi.NextKernel, guestabi.NextInitrd} {
		if _, err := os.Stat(p); err != nil {
			env.Log.Error("image lacks what the next level needs; rebuild with `make images`", "missing", p)
			return guestabi.SetupError
		}
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		env.Log.Error("no /dev/kvm at this level, cannot start the next one", "err", err)
		return guestabi.SetupError
	}
	next := env.Param(ParamNext, "")
	// The next level gets 80% of the time left here, so it reports its own
	// timeout before this level kills gonest.
	return env.RunChild(ctx, guestabi.GonestBinary, "run",
		"-m", nextMemory(next),
		"-kernel", guestabi.NextKernel,
		"-initrd", guestabi.NextInitrd,
		"-append", nextCmdline(env.Level, next, env.Budget(ctx, 0.8, 0)))
}

// nextMemory sizes the next level: one that boots another level itself
// needs room for it; a leaf needs its kernel, initramfs and test binaries.
func nextMemory(next string) string {
	if strings.HasPrefix(next, "nested") {
		return "1G"
	}
	return "384M"
}
