package scenario

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
)

// How the linux scenario runs G1.
const (
	linuxCPUs   = 2
	linuxMemory = 512 << 20
	// linuxG1Scenario is what G1 runs: the guest-side checks.
	linuxG1Scenario = "g1-checks"
)

// runLinux is H's side of the Linux boot checks: gonest doctor must say H
// can nest; then gonest boots G1 (Debian's kernel and G1's initramfs) with
// -smp 2 and -stats, and while G1 runs g1-checks, H
//   - compares G1's wall clock with its own when G1's event arrives,
//   - sends 64 KiB of random bytes into gonest's stdin once G1 says its
//     console is raw, and compares G1's SHA-256 of what it read,
//   - checks that G1's 1024 lines of known data arrive complete and in
//     order;
//
// and after G1 powers off, that gonest exited 0 and its statistics'
// outcome says poweroff. Pass only if every check passed.
func runLinux(ctx context.Context, env *Env) guestabi.Verdict {
	var failed []string
	if code := runDoctor(ctx, env); code != 0 {
		env.Log.Error("gonest doctor says this level cannot run nested guests (report above)", "exit", code)
		failed = append(failed, "doctor")
	}
	if v, ok := NeedNextLevel(ctx, env); !ok {
		return v
	}

	input := make([]byte, consoleBytes)
	seed := uint64(time.Now().UnixNano())
	fillRandom(input, seed)
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		env.Log.Error("console input pipe", "err", err)
		return guestabi.SetupError
	}
	var sent sync.WaitGroup
	check := newConsoleCheck(time.Now, input, func() {
		sent.Add(1)
		go func() {
			defer sent.Done()
			// gonest feeds the UART only as fast as G1 drains it, so
			// this write takes as long as G1's reading.
			_, err := stdinW.Write(input)
			env.Log.Info("console input sent", "bytes", len(input), "seed", seed, "err", err)
		}()
	})
	spec := env.NextSpec(ctx, linuxG1Scenario, linuxMemory)
	spec.CPUs, spec.Stats, spec.StatsJSON, spec.Stdin = linuxCPUs, true, true, stdinR
	spec.Params = map[string]string{guestabi.ParamCPUs: strconv.Itoa(linuxCPUs)}
	// nosoftlockup: G1's two vCPUs share H's one emulated CPU, so a vCPU
	// can wait 20 s for its turn and the detector would print an
	// emergency message into the console test's data (see linuxguest.go).
	spec.Append += " nosoftlockup"
	v, res := env.RunNext(ctx, spec, guestabi.Pass, &launch.Observer{Line: check.onLine, Message: check.onMessage})
	// Closing the read end ends a write still blocked on a dead gonest.
	stdinR.Close()
	sent.Wait()
	stdinW.Close()

	if v != guestabi.Pass {
		env.Log.Error("G1 did not pass", "verdict", v)
		failed = append(failed, "g1")
	}
	for _, p := range check.Problems() {
		env.Log.Error("console check", "problem", p)
		failed = append(failed, "console")
	}
	env.Log.Info("console checks", check.Summary()...)
	if err := checkPoweroff(env, res.Stats); err != nil {
		env.Log.Error("poweroff check", "err", err)
		failed = append(failed, "poweroff")
	}
	if len(failed) > 0 {
		env.Log.Error("linux checks failed", "checks", strings.Join(failed, ","))
		return guestabi.Fail
	}
	env.Log.Info("linux checks passed", "cpus", linuxCPUs, "console_bytes_each_way", consoleBytes)
	return guestabi.Pass
}

// checkPoweroff reads gonest's statistics after G1 powered off: the
// outcome must be poweroff (exit 0), not the exit port. It logs G1's boot
// milestones and KVM counters of interest on the way.
func checkPoweroff(env *Env, s *launch.Stats) error {
	if s == nil {
		return fmt.Errorf("gonest wrote no statistics")
	}
	var marks []any
	for _, e := range []string{"first KVM_RUN", "first serial byte", "guest: init started", "guest: scenario end", "vm stop"} {
		if ms, ok := s.Event(e); ok {
			marks = append(marks, strings.ReplaceAll(strings.TrimPrefix(e, "guest: "), " ", "_")+"_ms", ms)
		}
	}
	env.Log.Info("G1 timeline", marks...)
	if n, ok := s.VCPUSum("nested_run"); ok {
		env.Log.Info("G1 KVM counters", "nested_run", n, "note", "G1's gonest doctor ran a tiny guest of its own")
	}
	if !s.PoweredOff() {
		return fmt.Errorf("gonest's outcome is %q, want poweroff (exit 0): G1 did not end through ACPI poweroff", s.Outcome)
	}
	env.Log.Info("G1 powered off", "outcome", s.Outcome)
	return nil
}

// fillRandom fills b with pseudo-random bytes from seed.
func fillRandom(b []byte, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i < len(b); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}
