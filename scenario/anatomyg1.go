package scenario

import (
	"context"
	"io"
	"os"

	"github.com/gonest/gonest/guestabi"
)

// runAnatomyG1 is G1's half of the exit-multiplication experiment: it
// runs every loop of the plan as its guest G2, under gonest with -forward
// (so H's window opens and closes at the loop's markers too) and a window
// of its own, and sends H one result per loop: what G1's KVM saw of G2.
// G1's THP setting decides how G1 backs G2's memory for pf-4k and pf-2m.
func runAnatomyG1(ctx context.Context, env *Env) guestabi.Verdict {
	set, err := readAnatomySettings(env)
	if err != nil {
		env.Log.Error("bad experiment parameters", "err", err)
		return guestabi.SetupError
	}
	if v, ok := needKVM(env); !ok {
		return v
	}
	dir, err := os.MkdirTemp("", "anatomy-")
	if err != nil {
		env.Log.Error("temp dir for the loops", "err", err)
		return guestabi.SetupError
	}
	defer os.RemoveAll(dir)
	logTHP(env)
	for i, w := range set.order() {
		n := set.iterations(w)
		// gonest's window tables stay off G1's console: each byte of it
		// would be an exit of G1, and its figures go up in the result.
		win, err := runLoop(ctx, env, dir, w, n, false, true, io.Discard)
		if err != nil {
			env.Log.Error("exit loop failed", "workload", w.name, "err", err)
			return guestabi.Fail
		}
		f := g1FiguresOf(w.name, i, n, win)
		text, metrics := f.message()
		env.Log.Info("G2 loop measured", "workload", w.name, "n", n, "g1_kvm_exits", f.kvmExits,
			"ms", win.DurationMs)
		env.Result(ResultAnatomyG1, text, metrics)
	}
	return guestabi.Pass
}

// logTHP logs this level's transparent huge page mode, which decides how
// its gonest backs its guest's memory.
func logTHP(env *Env) {
	mode, err := readTHP(thpEnabled)
	if err != nil {
		env.Log.Warn("transparent huge pages", "err", err)
		return
	}
	env.Log.Info("transparent huge pages", "enabled", mode, "level", env.Level)
}
