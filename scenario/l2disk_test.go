package scenario

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/ktrace"
	"github.com/gonest/gonest/launch"
)

// readMsg is G2's ResultDiskRead as a level above receives it.
func readMsg(bus string, run int, mib, mbps float64) launch.Message {
	return launch.Message{Message: guestabi.ResultMessage(ResultDiskRead, bus,
		map[string]float64{"run": float64(run), "bytes": mib * (1 << 20), "seconds": mib / mbps, "MBps": mbps})}
}

// diskWindow is a complete window of a gonest's statistics.
func diskWindow(index int, user int64, vcpu map[string]int64, trace *ktrace.Counts) launch.Window {
	w := launch.Window{Index: index, Spec: "measure start..measure end", Complete: true,
		Exits: map[string]int64{"KVM_EXIT_IO": user}, Trace: trace}
	w.KVM.Available = true
	w.KVM.VCPUs = []map[string]int64{vcpu}
	return w
}

// trace is H's tracepoint counts for one window.
func trace(all, nested, reflected uint64) *ktrace.Counts {
	return &ktrace.Counts{Method: ktrace.MethodHist, Events: []ktrace.EventCount{
		{Event: "kvm_exit", Total: all},
		{Event: "kvm_nested_vmexit", Total: nested, ByReason: []ktrace.ReasonCount{{Name: "io", Count: nested}}},
		{Event: "kvm_nested_vmexit_inject", Total: reflected, ByReason: []ktrace.ReasonCount{{Name: "io", Count: reflected}}},
		{Event: "kvm_nested_vmenter", Total: reflected},
	}}
}

// TestDiskRunsPairsTheLevels: G2's reads, G1's windows and H's windows
// pair up read by read, and each bus's figures are per MiB medians.
func TestDiskRunsPairsTheLevels(t *testing.T) {
	reads := []launch.Message{readMsg(BusIDE, 1, 2, 0.1), readMsg(BusVirtio, 1, 2, 40),
		readMsg(BusIDE, 2, 2, 0.3), readMsg(BusVirtio, 2, 2, 20), readMsg(BusIDE, 3, 2, 0.2), readMsg(BusVirtio, 3, 2, 30)}
	g1Wins := []launch.Window{
		diskWindow(1, 4900, map[string]int64{"exits": 12000, "io_exits": 9000}, nil),
		diskWindow(2, 1, map[string]int64{"exits": 40, "io_exits": 1}, nil),
		diskWindow(3, 5000, map[string]int64{"exits": 12400, "io_exits": 9100}, nil),
		diskWindow(4, 1, map[string]int64{"exits": 44, "io_exits": 1}, nil),
		diskWindow(5, 4950, map[string]int64{"exits": 12200, "io_exits": 9050}, nil),
		diskWindow(6, 1, map[string]int64{"exits": 42, "io_exits": 1}, nil),
	}
	g1, err := g1DiskWindows(reads, g1Wins)
	require.NoError(t, err)
	require.Len(t, g1, 6)
	assert.Equal(t, map[string]float64{"run": 1, "bytes": 2 << 20, "kvm_exits": 12000, "userspace_exits": 4900, "io_exits": 9000}, g1[0])
	var g1Msgs []launch.Message
	for i, m := range g1 {
		g1Msgs = append(g1Msgs, launch.Message{Message: guestabi.ResultMessage(ResultDiskWindow, reads[i].Result.Text, m)})
	}
	hWins := []launch.Window{
		diskWindow(1, 100, map[string]int64{"exits": 120000, "nested_run": 12000}, trace(120000, 12000, 12000)),
		diskWindow(2, 1, map[string]int64{"exits": 400, "nested_run": 40}, trace(400, 40, 40)),
		diskWindow(3, 100, map[string]int64{"exits": 124000, "nested_run": 12400}, trace(124000, 12400, 12400)),
		diskWindow(4, 1, map[string]int64{"exits": 440, "nested_run": 44}, trace(440, 44, 44)),
		diskWindow(5, 100, map[string]int64{"exits": 122000, "nested_run": 12200}, trace(122000, 12200, 12200)),
		diskWindow(6, 1, map[string]int64{"exits": 420, "nested_run": 42}, trace(420, 42, 42)),
	}
	runs, err := diskRuns(reads, g1Msgs, hWins)
	require.NoError(t, err)
	require.Len(t, runs, 6)
	buses := summarize(runs)
	require.Len(t, buses, 2)
	assert.Equal(t, BusIDE, buses[0].Bus, "buses in the order G2 read them")
	med := func(b DiskBus, metric string) float64 {
		v, ok := b.Median(metric)
		require.True(t, ok, metric)
		return v
	}
	assert.InDelta(t, 0.2, med(buses[0], MetricG2MBps), 1e-9)
	assert.InDelta(t, 6100, med(buses[0], MetricG1Exits), 1e-9)
	assert.InDelta(t, 2475, med(buses[0], MetricG1User), 1e-9)
	assert.InDelta(t, 61000, med(buses[0], MetricHExits), 1e-9)
	assert.InDelta(t, 6100, med(buses[0], MetricHNestedRun), 1e-9)
	assert.InDelta(t, 6100, med(buses[0], MetricHReflected), 1e-9)
	assert.InDelta(t, 9, med(buses[0], MetricG1PerReflected), 1e-9, "(all - nested) / reflected")
	assert.InDelta(t, 30, med(buses[1], MetricG2MBps), 1e-9)
	assert.InDelta(t, 21, med(buses[1], MetricG1Exits), 1e-9)
	assert.Equal(t, 3.0, buses[1].metrics()["runs"])

	table := diskTable(buses)
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	require.Len(t, lines, 4, table)
	assert.Contains(t, lines[0], "G1 exits/MiB")
	assert.Regexp(t, `^\s+ide\s+3 × 2\s+0\.20\s+6100\s+2475\s+61000\s+6100\s+6100\s+9\.0$`, lines[1])
	assert.Regexp(t, `^\s+ide / virtio-blk\s+0\.00667\s+290\s+`, lines[3])
	assert.Equal(t, "ide, 3 runs of 2 MiB: G2 MB/s 0.20, G1 exits/MiB 6100, G1 userspace exits/MiB 2475, H exits/MiB 61000, "+
		"H nested_run/MiB 6100, H reflected/MiB 6100, G1 exits per reflected 9.0", buses[0].line())
}

// TestDiskRunsWithoutTrace: H's windows without tracepoints leave the
// trace's columns out, not zero.
func TestDiskRunsWithoutTrace(t *testing.T) {
	reads := []launch.Message{readMsg(BusIDE, 1, 1, 0.1)}
	g1 := []launch.Message{{Message: guestabi.ResultMessage(ResultDiskWindow, BusIDE, map[string]float64{"kvm_exits": 6000})}}
	h := []launch.Window{diskWindow(1, 5, map[string]int64{"exits": 60000, "nested_run": 6000}, nil)}
	runs, err := diskRuns(reads, g1, h)
	require.NoError(t, err)
	buses := summarize(runs)
	_, ok := buses[0].Median(MetricHReflected)
	assert.False(t, ok)
	assert.NotContains(t, buses[0].metrics(), MetricHReflected)
	assert.Contains(t, diskTable(buses), "n/a")
}

func TestDiskRunsRefusesWhatDoesNotPair(t *testing.T) {
	read := readMsg(BusIDE, 1, 1, 0.1)
	g1 := launch.Message{Message: guestabi.ResultMessage(ResultDiskWindow, BusIDE, map[string]float64{"kvm_exits": 1})}
	g1Virtio := launch.Message{Message: guestabi.ResultMessage(ResultDiskWindow, BusVirtio, nil)}
	ok := diskWindow(1, 1, map[string]int64{"exits": 1}, nil)
	open := ok
	open.Complete = false
	noKVM := ok
	noKVM.KVM.Available, noKVM.KVM.Reason = false, "no stats fd"
	zero := readMsg(BusIDE, 1, 0, 1)
	tests := []struct {
		name  string
		reads []launch.Message
		g1    []launch.Message
		h     []launch.Window
		want  string
	}{
		{"no read", nil, nil, nil, "no read"},
		{"a window missing", []launch.Message{read}, []launch.Message{g1}, nil, "1 reads of G2, 1 windows of G1, 0 windows of H"},
		{"buses differ", []launch.Message{read}, []launch.Message{g1Virtio}, []launch.Window{ok}, "G2 read ide but G1's window 1 says virtio-blk"},
		{"window cut short", []launch.Message{read}, []launch.Message{g1}, []launch.Window{open}, "closed with the run"},
		{"no counters", []launch.Message{read}, []launch.Message{g1}, []launch.Window{noKVM}, "no stats fd"},
		{"nothing read", []launch.Message{zero}, []launch.Message{g1}, []launch.Window{ok}, "0 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := diskRuns(tt.reads, tt.g1, tt.h)
			assert.ErrorContains(t, err, tt.want)
		})
	}
	_, err := g1DiskWindows([]launch.Message{read, read}, []launch.Window{ok})
	assert.ErrorContains(t, err, "G2 reported 2 reads but G1's gonest measured 1 windows")
	_, err = g1DiskWindows([]launch.Message{read}, []launch.Window{open})
	assert.ErrorContains(t, err, "closed with the run")
	_, err = g1DiskWindows([]launch.Message{read}, []launch.Window{noKVM})
	assert.ErrorContains(t, err, "no stats fd")
}

// TestDiskImage: G1's image holds what G2 checks its read against, and
// each bus's image differs from the other's.
func TestDiskImage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "ide.img")
	f := diskPattern(BusIDE, 1<<20)
	require.NoError(t, writeDiskImage(path, f))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Len(t, b, 1<<20)
	assert.Equal(t, f.Sum(), sha256.Sum256(b))
	assert.NotEqual(t, f.Sum(), diskPattern(BusVirtio, 1<<20).Sum())
	assert.Equal(t, f, diskPattern(BusIDE, 1<<20), "the same on both sides")
}

func TestDiskParams(t *testing.T) {
	tests := []struct {
		params    map[string]string
		mib, runs int
		wantErr   string
	}{
		{nil, defaultDiskMiB, 1, ""},
		{map[string]string{guestabi.ParamDiskMiB: "8", guestabi.ParamDiskRuns: "5"}, 8, 5, ""},
		{map[string]string{guestabi.ParamDiskMiB: "0"}, 0, 0, "gonest.disk.mib=\"0\": want a number from 1 to 64"},
		{map[string]string{guestabi.ParamDiskMiB: "65"}, 0, 0, "from 1 to 64"},
		{map[string]string{guestabi.ParamDiskRuns: "x"}, 0, 0, "gonest.disk.runs=\"x\": want a number from 1 to 20"},
	}
	for _, tt := range tests {
		env, _ := testEnv("G2")
		env.Params = tt.params
		mib, runs, err := diskParams(env)
		if tt.wantErr != "" {
			assert.ErrorContains(t, err, tt.wantErr)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, tt.mib, mib)
		assert.Equal(t, tt.runs, runs)
	}
}
