package scenario

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/gonest/gonest/doctor"
	"github.com/gonest/gonest/guestabi"
)

// maxDoctorJSON bounds what doctor -json may print: its report is a few
// KiB.
const maxDoctorJSON = 1 << 20

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

// runDoctorThenKVMTests is doctor, then kvmtests, in one boot: where a
// boot costs minutes (the Intel lab's H under Bochs), both checks of a
// level's KVM share it. Both run whatever the first says; the verdict is
// the doctor's unless it passed, then kvmtests'.
func runDoctorThenKVMTests(ctx context.Context, env *Env) guestabi.Verdict {
	dv := runDoctorScenario(ctx, env)
	kv := runKVMTests(ctx, env)
	if dv != guestabi.Pass {
		return dv
	}
	return kv
}

// runDoctor runs `gonest doctor` at this level, so a lab log shows what
// each level's KVM offers, and returns its exit status: 0 this level can
// run nested guests, 1 it cannot, -1 doctor did not run or gave no report.
func runDoctor(ctx context.Context, env *Env) int {
	return doctorAt(ctx, env, guestabi.GonestBinary)
}

// doctorAt runs `gonest doctor -json` from binary, prints its report as
// text on the console for people, and sends its findings to the level
// above as a guestabi.ResultDoctor result (doctor.Report.Metrics) for
// programs: a lab test reads those, never the text.
func doctorAt(ctx context.Context, env *Env, binary string) int {
	env.Log.Info("gonest doctor follows", "level", env.Level)
	var out bytes.Buffer
	cmd := env.Command(ctx, binary, "doctor", "-json")
	cmd.Stdout = &limitedBuffer{b: &out, max: maxDoctorJSON}
	err := cmd.Run()
	code := exitStatus(err)
	if code < 0 {
		env.Log.Error("gonest doctor did not run", "err", err)
		return -1
	}
	var r doctor.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		env.Log.Error("gonest doctor -json printed no report; run gonest doctor at this level to see why", "exit", code, "err", err)
		return -1
	}
	if err := r.WriteText(env.Console); err != nil {
		env.Log.Warn("doctor report not printed", "err", err)
	}
	env.Result(guestabi.ResultDoctor, r.Verdict, r.Metrics())
	env.Log.Info("gonest doctor done", "level", env.Level, "exit", code, "can_nest", code == 0)
	return code
}

// limitedBuffer keeps the first max bytes written to it and drops the
// rest, so a runaway child cannot grow this process's memory.
type limitedBuffer struct {
	b   *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
