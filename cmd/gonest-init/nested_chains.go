package main

import (
	"context"
	"fmt"

	"github.com/gonest/gonest/guestabi"
)

// The nested chains the lab tests run from H. Each boots G1 with gonest
// (-forward, so the lab sees every level's markers) and gives G1 a
// scenario that boots G2:
//
//	l2-tiny   G1 runs tiny-guest: G2 is a tiny ELF that exits with gonest.code,
//	          and that code comes back as every level's verdict
//	l2-linux  G1 runs its KVM tests, then boots G2 Linux (scenario boot); H
//	          checks KVM's nested_run counter of G1's vCPUs
//	l2-off    G1 gets -nested off and runs tiny-guest: it finds no SVM/VMX,
//	          cannot load its KVM module and reports NoKVM

// g1StatsJSON is where l2-linux has gonest write G1's statistics.
const g1StatsJSON = "/tmp/g1-stats.json"

func runL2Tiny(ctx context.Context, env *Env) guestabi.Verdict {
	code, err := tinyCode(env.Param(guestabi.ParamCode, ""))
	if err != nil {
		env.Log.Error("bad tiny guest exit code", "err", err)
		return guestabi.SetupError
	}
	return bootNext(ctx, env, child{scenario: "tiny-guest", expect: guestabi.Verdict(code)})
}

func runL2Off(ctx context.Context, env *Env) guestabi.Verdict {
	return bootNext(ctx, env, child{scenario: "tiny-guest", nested: "off", expect: guestabi.NoKVM})
}

func runL2Linux(ctx context.Context, env *Env) guestabi.Verdict {
	// G1 runs gonest -stats too: its console shows G2's exits as G1's
	// VMM saw them, beside H's table of G1's.
	v := bootNext(ctx, env, child{scenario: "kvmtests+nested", next: "boot", statsJSON: g1StatsJSON,
		params: []string{ParamStats + "=1"}})
	if v != guestabi.Pass {
		return v
	}
	runs, err := nestedRuns(g1StatsJSON)
	if err != nil {
		env.Log.Error("G1's statistics", "err", err)
		return guestabi.Fail
	}
	if runs == 0 {
		env.Log.Error("KVM counted no nested_run on G1's vCPUs: G1 never entered G2 through nested SVM/VMX")
		return guestabi.Fail
	}
	env.Log.Info("G1 ran G2 under nested virtualization", "nested_run", runs)
	return guestabi.Pass
}

// nestedRuns reads a gonest -stats-json file and sums KVM's nested_run
// counter (VMRUN/VMLAUNCH executed by the guest and run by KVM for it)
// over the vCPUs.
func nestedRuns(path string) (uint64, error) {
	st, err := readVMMStats(path)
	if err != nil {
		return 0, err
	}
	if !st.KVM.Available {
		return 0, fmt.Errorf("%s: no KVM counters: %s", path, st.KVM.Reason)
	}
	sum, ok := st.vcpuSum("nested_run")
	if !ok {
		return 0, fmt.Errorf("%s: no vCPU has a nested_run counter (%d vCPUs)", path, len(st.KVM.VCPUs))
	}
	return sum, nil
}
