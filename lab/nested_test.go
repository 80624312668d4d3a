package lab_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/lab"
	"github.com/gonest/gonest/scenario"
	"github.com/stretchr/testify/assert"
)

// The nested chains (scenario/nested.go): H boots G1 with
// gonest, G1 boots G2 with gonest, from the next-level images disks. Every
// level's gonest runs with -forward, so the lab sees each level's
// boot markers at its depth. About 50 s (l2-tiny, l2-off) and 2 to 3 min
// (l2-linux) here.

// levelMarkers are the markers gonest-init writes at every Linux level.
var levelMarkers = []guestabi.Marker{guestabi.MarkerInitStarted, guestabi.MarkerModulesLoaded,
	guestabi.MarkerScenarioStart, guestabi.MarkerScenarioEnd}

// logTimeline logs when each level reached each marker, and the verdict.
func logTimeline(t *testing.T, res lab.Result, depths int) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "boot timeline (s since QEMU start)\n%-6s", "level")
	for _, m := range levelMarkers {
		fmt.Fprintf(&b, "%16s", m)
	}
	for d := range depths {
		fmt.Fprintf(&b, "\n%-6s", lab.Mark{Depth: d}.Level())
		for _, m := range levelMarkers {
			if at, ok := res.MarkAt(d, m); ok {
				fmt.Fprintf(&b, "%16.1f", at.Seconds())
			} else {
				fmt.Fprintf(&b, "%16s", "-")
			}
		}
	}
	fmt.Fprintf(&b, "\nverdict %d (%s) at %.1fs", uint8(res.Verdict), res.Verdict, res.Duration.Seconds())
	t.Log(b.String())
}

// assertMarkers checks that the level at depth wrote each of markers.
func assertMarkers(t *testing.T, res lab.Result, depth int, markers ...guestabi.Marker) {
	t.Helper()
	for _, m := range markers {
		_, ok := res.MarkAt(depth, m)
		assert.True(t, ok, "marker %s never arrived", lab.Mark{Marker: m, Depth: depth})
	}
}

// TestLabNestedTiny: G1 boots a tiny ELF G2 that exits with gonest.code;
// the code ends G1's gonest, is G1's verdict, ends H's gonest, is H's
// verdict and reaches the lab through QEMU's exit status.
func TestLabNestedTiny(t *testing.T) {
	const code = 37 // not the default (42): the parameter must reach G1
	res, _ := runLab(t, lab.Config{Scenario: "l2-tiny", Timeout: 5 * time.Minute,
		Append: fmt.Sprintf("%s=%d gonest.timeout=4m", guestabi.ParamCode, code)})
	logTimeline(t, res, 3)
	assert.Equal(t, guestabi.Verdict(code), res.Verdict, "G2's exit code did not come back through G1 and H%s", res.TailsText())
	assertMarkers(t, res, 0, levelMarkers...)
	assertMarkers(t, res, 1, levelMarkers...)
	// The tiny guest writes two markers of its own.
	assertMarkers(t, res, 2, guestabi.MarkerInitStarted, guestabi.MarkerScenarioEnd)
	// Every level's verdict message reached the lab, the inner ones passed
	// up by each gonest -forward (ioperm and outb, no /dev/port).
	verdicts := map[string]guestabi.Verdict{}
	for _, m := range res.Messages {
		if m.Type == guestabi.MsgVerdict {
			verdicts[fmt.Sprintf("%s@%d", m.Level, m.Depth)] = m.Verdict.Code
		}
	}
	assert.Equal(t, map[string]guestabi.Verdict{"H@0": code, "G1@1": code, "G2@2": code}, verdicts)
}

// resultMetric returns metric of the first result message called name
// that the level at depth sent.
func resultMetric(res lab.Result, depth int, name, metric string) (float64, bool) {
	for _, m := range res.Messages {
		if m.Type == guestabi.MsgResult && m.Depth == depth && m.Result.Name == name {
			v, ok := m.Result.Metrics[metric]
			return v, ok
		}
	}
	return 0, false
}

// TestLabNestedLinux: G1 runs the kvm and vcpu test binaries on its nested
// KVM, then boots G2 Linux to its init, which reports pass; H checks that
// KVM counted nested VMRUNs for G1's vCPUs while G2's init ran (a window
// between G2's first and last init markers, so the test binaries' VMRUNs
// do not count). Every level's markers arrive.
func TestLabNestedLinux(t *testing.T) {
	res, log := runLab(t, lab.Config{Scenario: "l2-linux", Timeout: 9 * time.Minute, Append: "gonest.timeout=8m"})
	logTimeline(t, res, 3)
	assert.Equal(t, guestabi.Pass, res.Verdict, "H, G1's tests or G2 failed:\n%s%s",
		strings.Join(regexp.MustCompile(`(?m)^\[H\] (\[G1\] )?(\[G2\] )?init: ERROR .*$`).FindAllString(log, -1), "\n"),
		res.TailsText())
	for d := range 3 {
		assertMarkers(t, res, d, levelMarkers...)
	}
	if runs, ok := resultMetric(res, 0, scenario.ResultNestedRun, "nested_run"); assert.True(t, ok, "H reports nested_run in a %s result message", scenario.ResultNestedRun) {
		assert.Positive(t, runs, "KVM counted G1's VMRUNs")
		t.Logf("KVM nested_run over G1's vCPUs: %.0f", runs)
	}
	assert.True(t, regexp.MustCompile(`(?m)^\[H\] \[G1\] init: kvm status module=kvm_amd nested=1 dev_kvm=true$`).MatchString(log),
		"G1 must load kvm_amd with nested=1 and get /dev/kvm")
}

// TestLabNestedOff: H runs G1 with gonest -nested off. G1's CPU shows no
// SVM, so kvm_amd refuses to load and G1 reports NoKVM, which H passes up.
func TestLabNestedOff(t *testing.T) {
	res, log := runLab(t, lab.Config{Scenario: "l2-off", Timeout: 5 * time.Minute, Append: "gonest.timeout=4m"})
	logTimeline(t, res, 2)
	assert.Equal(t, guestabi.NoKVM, res.Verdict, "G1 under -nested off must report %q%s", guestabi.NoKVM, res.TailsText())
	assertMarkers(t, res, 1, levelMarkers...)
	_, ok := res.MarkAt(2, guestabi.MarkerInitStarted)
	assert.False(t, ok, "no G2 can start without KVM in G1")
	assert.Regexp(t, `(?m)^\[H\] \[G1\] init: ERROR this level has no usable /dev/kvm.* cpu_svm=false .*module=kvm_amd`, log,
		"G1 says why: no svm, kvm_amd did not load")
}
