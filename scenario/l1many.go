package scenario

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
)

// Several nesting G1s in one H (l1-many). H boots two G1s at once with
// gonest, each with -nested on: each G1 loads its KVM module with nesting
// on, and boots its own G2 Linux. Both chains must pass, and H's KVM must
// have run nested VMRUNs for each. Once both G1s are in their scenario,
// H lists the VMs its KVM runs: two. The lab gives H two vCPUs for this
// (lab.Config.CPUs), so that both G1s can be in guest mode, each running
// its G2, at the same moment, each on its own CPU of H.

// l1Levels names the two G1s; each one's G2 is named after it (G2a, G2b).
var l1Levels = []string{"G1a", "G1b"}

// ResultL1VMs is H's result: metrics vms (the VMs of H's KVM while both
// G1s ran) and each G1's nested_run.
const ResultL1VMs = "l1-vms"

// runL1Many is H's side of l1-many.
func runL1Many(ctx context.Context, env *Env) guestabi.Verdict {
	if v, ok := NeedNextLevel(ctx, env); !ok {
		return v
	}
	logNestingFeatures(env)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		started = map[string]bool{}
		counted = make(chan []kvmVM, 1)
		results = make([]launch.Result, len(l1Levels))
		vs      = make([]guestabi.Verdict, len(l1Levels))
	)
	for i, level := range l1Levels {
		spec := child{scenario: "nested", next: "boot", nested: "on", statsJSON: true, window: g2InitWindow}.spec(ctx, env, true)
		spec.Level, spec.NestedState = level, false
		obs := &launch.Observer{Mark: func(m launch.Mark) {
			if m.Depth != 0 || m.Marker != guestabi.MarkerScenarioStart {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			started[level] = true
			if len(started) == len(l1Levels) {
				// Both G1s run: their VMs are in H's KVM.
				vms, err := kvmVMs()
				if err != nil {
					env.Log.Error("list H's KVM VMs in debugfs", "err", err)
				}
				counted <- vms
			}
		}}
		wg.Add(1)
		go func() {
			defer wg.Done()
			vs[i], results[i] = env.RunNext(ctx, spec, guestabi.Pass, obs)
		}()
	}
	wg.Wait()
	c := &checks{env: env}
	metrics := map[string]float64{}
	select {
	case vms := <-counted:
		var names []string
		for _, vm := range vms {
			names = append(names, vm.name)
		}
		env.Log.Info("l1-many: H's KVM while both G1s ran", "vms", len(vms), "debugfs", strings.Join(names, " "))
		metrics["vms"] = float64(len(vms))
		if len(vms) != len(l1Levels) {
			c.fail("H's KVM ran a number of VMs other than its G1s", "vms", len(vms), "want", len(l1Levels))
		}
	default:
		c.fail("the two G1s never ran their scenarios at the same time")
	}
	for i, level := range l1Levels {
		if vs[i] != guestabi.Pass {
			c.fail("a chain did not pass", "level", level, "verdict", vs[i])
			continue
		}
		runs, err := nestedRuns(results[i].Stats)
		if err != nil || runs == 0 {
			c.fail("H's KVM ran no nested VMRUN for a G1: it never entered its G2", "level", level, "nested_run", runs, "err", err)
			continue
		}
		metrics["nested_run."+level] = float64(runs)
		// From G1 launching G2 to G2's verdict, in seconds since H
		// launched this G1: whether the two G2s overlapped depends on
		// how fast each G1 booted.
		start, _ := results[i].MarkAt(0, guestabi.MarkerScenarioStart)
		end, _ := results[i].MarkAt(1, guestabi.MarkerScenarioEnd)
		env.Log.Info("l1-many: chain passed", "g1", level, "g2", guestabi.NextLevel(level), "nested_run", runs,
			"g2_launched_to_verdict", fmt.Sprintf("%.1fs..%.1fs", start.Seconds(), end.Seconds()))
	}
	env.Result(ResultL1VMs, "H", metrics)
	return c.verdict()
}
