package main

import (
	"context"

	"github.com/gonest/gonest/guestabi"
)

// runDoctor runs `gonest doctor` at this level with its report on the
// console, so a lab log shows what each level's KVM offers, and returns
// its exit status: 0 this level can run nested guests, 1 it cannot, -1
// doctor did not run.
func runDoctor(ctx context.Context, env *Env) int {
	env.Log.Info("gonest doctor follows", "level", env.Level)
	err := env.Command(ctx, guestabi.GonestBinary, "doctor").Run()
	code := exitStatus(err)
	if code < 0 {
		env.Log.Error("gonest doctor did not run", "err", err)
		return -1
	}
	env.Log.Info("gonest doctor done", "level", env.Level, "exit", code, "can_nest", code == 0)
	return code
}

// runDoctorScenario is the doctor scenario: it passes when gonest doctor
// says this level's KVM can run guests that run guests of their own, and
// fails when it says it cannot.
func runDoctorScenario(ctx context.Context, env *Env) guestabi.Verdict {
	switch runDoctor(ctx, env) {
	case 0:
		return guestabi.Pass
	case 1:
		return guestabi.Fail
	}
	return guestabi.SetupError
}
