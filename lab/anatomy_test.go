package lab_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/lab"
	"github.com/gonest/gonest/launch"
	"github.com/gonest/gonest/scenario"
)

// TestLabAnatomy runs the exit-multiplication experiment (scenario
// anatomy): H runs each exit loop as its own guest, then G1 runs each as
// G2 while H's gonest counts L0's exit tracepoints in a window around each
// loop and reads G1's nested state live. The test checks the structure of
// H's rows, never a speed:
//   - every workload has counts at every level: G2's exits as L0 saw them,
//     the exits L0 gave G1, G1's own exits, G1's KVM's count, the loop's
//     exits as H's own guest, and a time at both;
//   - L0's reflected and handled exits add up to G2's exits;
//   - G1's KVM counted exactly the exits L0 gave it;
//   - each exit given to G1 cost it more than one exit of its own;
//   - each loop's own exit reason came at least once per iteration;
//   - pf-4k's memory was mapped by G1's KVM in 4 KiB pages, pf-2m's in 2 MiB;
//   - a live reading found G1 outside guest mode (before its first G2),
//     gonest said so and the run went on to pass; another caught G1 in
//     guest mode with vmcb12's (vmcs12's) address.
//
// About 60 to 70 s here (H's boot, 8 loops as H's guest, G1's boot, 8
// loops as G2; 2 min with the machine's cores shared).
func TestLabAnatomy(t *testing.T) {
	start := time.Now()
	res, log := runLab(t, lab.Config{Scenario: "anatomy", Timeout: 8 * time.Minute, Append: "gonest.timeout=7m"})
	t.Logf("TestLabAnatomy took %.0fs", time.Since(start).Seconds())
	assertAnatomy(t, res, log, "SVM")
}

// assertAnatomy checks one run of scenario anatomy, in the AMD lab (isa
// "SVM") or the Intel lab ("VMX"): H's verdict, every workload's row and
// the live nested-state readings, as TestLabAnatomy describes; on VMX also
// the vmcs12 that the reading in guest mode decoded (assertVMCS12).
func assertAnatomy(t *testing.T, res lab.Result, log, isa string) {
	t.Helper()
	assert.Equal(t, guestabi.Pass, res.Verdict, "H found the result without its structure, or a level failed:\n%s%s",
		strings.Join(regexp.MustCompile(`(?m)^\[H\] (\[G1\] )?init: ERROR .*$`).FindAllString(log, -1), "\n"), res.TailsText())
	if m := regexp.MustCompile(`(?ms)^\[H\] == exit multiplication.*?^\[H\] $`).FindString(log); m != "" {
		t.Logf("H's table:\n%s", m)
	}

	rows := map[string]*guestabi.ResultBody{}
	for _, m := range resultsOf(res.Messages, scenario.ResultAnatomyRow) {
		name, _, _ := strings.Cut(m.Text, ":")
		rows[name] = m
	}
	for _, w := range scenario.AnatomyWorkloads() {
		r := rows[w]
		if !assert.NotNil(t, r, "no row for %s", w) {
			continue
		}
		t.Run(w, func(t *testing.T) { assertAnatomyRow(t, w, r.Metrics) })
	}

	states := resultsOf(res.Messages, scenario.ResultAnatomyState)
	require.Len(t, states, 1, "H's summary of the live nested state")
	st := states[0].Metrics
	assert.Positive(t, st[scenario.StateIdle], "a reading with no vCPU in guest mode")
	assert.Positive(t, st[scenario.StateGuest], "a reading in guest mode")
	assert.NotZero(t, st[scenario.StateAddress], "vmcb12's or vmcs12's address")
	assert.Regexp(t, `(?m)^\[H\] no vCPU was in guest mode: the guest was not running a guest of its own at that moment; the run goes on$`, log)
	block := map[string]string{"SVM": "vmcb12", "VMX": "vmcs12"}[isa]
	assert.Regexp(t, `(?m)^\[H\] nested state vcpu 0: format=`+isa+` flags=0x[0-9a-f]+ guest mode: an L2 guest was running, .*`+block+`=0x[1-9a-f]`, log)
	if isa == "VMX" {
		assertVMCS12(t, st)
	}
}

// assertAnatomyRow checks one workload's row (scenario.ResultAnatomyRow).
func assertAnatomyRow(t *testing.T, w string, m map[string]float64) {
	assert.Equal(t, 1.0, m[scenario.RowTraceOK], "L0's tracepoints")
	assert.Equal(t, 1.0, m[scenario.RowRuns])
	for _, k := range []string{scenario.RowN, scenario.RowG2Exits, scenario.RowInjected, scenario.RowL1Exits,
		scenario.RowG1KVMExits, scenario.RowBaseExits, scenario.RowNestedNs, scenario.RowBaseNs, scenario.RowEntries} {
		assert.Positive(t, m[k], "%s: a level without counts", k)
	}
	assert.Equal(t, m[scenario.RowG2Exits], m[scenario.RowReflected]+m[scenario.RowHandled], "reflected + handled = G2's exits")
	assert.Equal(t, m[scenario.RowInjected], m[scenario.RowReflected]+m[scenario.RowSynthesized], "reflected + synthesized = given to G1")
	assert.Equal(t, m[scenario.RowInjected], m[scenario.RowG1KVMExits], "G1's KVM counted every exit L0 gave it")
	assert.Greater(t, m[scenario.RowL1PerInjected], 1.0, "each exit given to G1 costs it more than one of its own")
	if m[scenario.RowReasons] > 0 {
		assert.GreaterOrEqual(t, m[scenario.RowOwnExits], m[scenario.RowN], "the loop's own exit, once per iteration at least")
	}
	switch w {
	case "pf-4k":
		assert.GreaterOrEqual(t, m[scenario.RowG1Pages4K], m[scenario.RowN], "G1's KVM mapped each fresh page with 4 KiB")
		assert.GreaterOrEqual(t, m[scenario.RowHPages4K], m[scenario.RowN], "and so did L0, for G2")
	case "pf-2m":
		assert.Positive(t, m[scenario.RowG1Pages2M], "G1's KVM mapped the fresh memory with 2 MiB pages")
		assert.Positive(t, m[scenario.RowHPages2M], "and so did L0")
	}
}

// resultsOf returns the bodies of H's results called name.
func resultsOf(msgs []launch.Message, name string) []*guestabi.ResultBody {
	var out []*guestabi.ResultBody
	for _, m := range msgs {
		if m.Type == guestabi.MsgResult && m.Depth == 0 && m.Result.Name == name {
			out = append(out, m.Result)
		}
	}
	return out
}
