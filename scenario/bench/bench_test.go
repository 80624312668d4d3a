package bench

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/guest/initkit"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/syncbuf"
	"github.com/gonest/gonest/launch"
	"github.com/gonest/gonest/scenario"
)

func TestMedianAndSpread(t *testing.T) {
	assert.Equal(t, 0.0, median(nil))
	assert.Equal(t, 3.0, median([]float64{5, 3, 1}))
	assert.Equal(t, 2.5, median([]float64{4, 1, 2, 3}), "an even count takes the mean of the middle two")
	in := []float64{3, 1, 2}
	median(in)
	assert.Equal(t, []float64{3, 1, 2}, in, "the input is not sorted in place")
	assert.Equal(t, "8.00 s (min 7.00, max 9.00)", spread([]float64{9, 7, 8}, 2, "s"))
	assert.Equal(t, "41.0 s (min 40.0, max 50.5)", spread([]float64{50.5, 40, 41}, 1, "s"))
	assert.Equal(t, "88 MB/s (min 56, max 379)", spread([]float64{379, 88, 56}, 0, "MB/s"))
	assert.Equal(t, "0.69 1.00", ratios([]float64{0.6912, 1}))
}

func TestLaunchTime(t *testing.T) {
	marks := []launch.Mark{
		{Marker: guestabi.MarkerInitStarted, At: 20 * time.Second},
		{Marker: guestabi.MarkerScenarioStart, At: 25 * time.Second},
		{Marker: guestabi.MarkerInitStarted, Depth: 1, At: 60 * time.Second},
		{Marker: guestabi.MarkerScenarioEnd, Depth: 1, At: 61 * time.Second}, // G2's own end is not G1's
		{Marker: guestabi.MarkerScenarioEnd, At: 62 * time.Second},
	}
	got, attrs, err := launchTime(launch.Result{Marks: marks})
	require.NoError(t, err)
	assert.Equal(t, []float64{42}, got)
	assert.Equal(t, []any{"g1_init_to_g2_verdict", 42 * time.Second, "g1_init_to_scenario", 5 * time.Second,
		"scenario_to_g2_init", 35 * time.Second, "g2_init_to_verdict", 2 * time.Second}, attrs)
	_, _, err = launchTime(launch.Result{Marks: marks[:2]})
	assert.ErrorContains(t, err, `marker "init started" at depth 1 never arrived`)
}

func TestReadRates(t *testing.T) {
	read := func(depth int, mbps float64) launch.Message {
		m := guestabi.ResultMessage(scenario.ResultBlkRead, "", map[string]float64{"MBps": mbps})
		m.Depth = depth
		return launch.Message{Message: m}
	}
	res := launch.Result{Messages: []launch.Message{read(0, 100), read(1, 5), read(0, 120), read(0, 90)}}
	got, _, err := readRates(res)
	require.NoError(t, err)
	assert.Equal(t, []float64{100, 120, 90}, got, "G1's reads only")
	res.Messages = res.Messages[:2]
	_, _, err = readRates(res)
	assert.ErrorContains(t, err, "G1 reported 1 reads, want 3")
}

func TestWriteImage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bench.img")
	require.NoError(t, writeImage(p, 3<<20))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Len(t, b, 3<<20)
	assert.Equal(t, b[:1<<20], b[2<<20:], "the 1 MiB pattern repeats")
	assert.NotEqual(t, make([]byte, 4096), b[4096:8192], "not zeros: a VMM cannot skip holes")
}

func TestRunCount(t *testing.T) {
	tests := []struct {
		params map[string]string
		want   int
		ok     bool
	}{
		{nil, defaultRuns, true},
		{map[string]string{guestabi.ParamBenchRuns: "7"}, 7, true},
		{map[string]string{guestabi.ParamBenchRuns: "0"}, 0, false},
		{map[string]string{guestabi.ParamBenchRuns: "seven"}, 0, false},
	}
	for _, tt := range tests {
		env, console := testEnv()
		env.Params = tt.params
		got, ok := runCount(env)
		assert.Equal(t, tt.want, got, "%v", tt.params)
		assert.Equal(t, tt.ok, ok, "%v", tt.params)
		if !tt.ok {
			assert.Contains(t, console.String(), "bad gonest.bench.runs; want a count of runs")
		} else {
			assert.Empty(t, console.String())
		}
	}
}

func TestScenarios(t *testing.T) {
	table := append(scenario.Table(), Scenarios()...)
	for _, name := range []string{"bench-boot", "bench-blk", "bench-nested"} {
		s, ok := scenario.Lookup(table, name)
		assert.True(t, ok, name)
		assert.NotEmpty(t, s.Doc)
	}
}

// testEnv is an Env whose console and log go to one buffer.
func testEnv() (*scenario.Env, *syncbuf.Buffer) {
	var console syncbuf.Buffer
	return &scenario.Env{Log: initkit.NewLogger(&console, "init: "), Console: &console, Level: "H"}, &console
}

// TestCompareRows: the rows keep the form tools/bench.sh reads back
// ("ratio R", "per run ..." or "per-run ratios ...").
func TestCompareRows(t *testing.T) {
	tests := []struct {
		r    row
		want string
	}{
		{row{title: "lab G1 boot (start → init marker)", gonest: "gonest", qemu: "QEMU microvm", perRun: "per run", unit: "s", prec: 2},
			"lab G1 boot (start → init marker): gonest 2.00 s (min 1.00, max 3.00), QEMU microvm 4.00 s (min 4.00, max 4.00), ratio 0.50 (median of 3; per run 0.25 0.50 0.75)"},
		{row{title: "virtio-blk sequential read (G1, 256 MiB, O_DIRECT 1 MiB)", gonest: "gonest", qemu: "QEMU",
			of: " reads each", perRun: "per-run ratios", unit: "MB/s", prec: 0},
			"virtio-blk sequential read (G1, 256 MiB, O_DIRECT 1 MiB): gonest 2 MB/s (min 1, max 3), QEMU 4 MB/s (min 4, max 4), ratio 0.50 (median of 3 reads each; per-run ratios 0.25 0.50 0.75)"},
	}
	for _, tt := range tests {
		env, console := testEnv()
		v := compare(env, nil, tt.r, [2][]float64{{1, 2, 3}, {4, 4, 4}}, []float64{0.25, 0.5, 0.75}, 3)
		assert.Equal(t, guestabi.Pass, v)
		assert.Contains(t, console.String(), strconv.Quote(tt.want))
	}
	env, console := testEnv()
	assert.Equal(t, guestabi.Fail, compare(env, errors.New("qemu run 2: verdict fail"), row{}, [2][]float64{}, nil, 3))
	assert.Contains(t, console.String(), "init: ERROR bench boot failed")
}

func TestDiskBenchRows(t *testing.T) {
	ide := scenario.DiskBus{Bus: scenario.BusIDE, Runs: map[string][]float64{
		scenario.MetricMiB: {4, 4, 4, 4, 4}, scenario.MetricG2MBps: {0.1, 0.2, 0.12, 0.11, 0.13},
		scenario.MetricHExits: {60000, 61000, 59000, 62000, 60500}}}
	vd := scenario.DiskBus{Bus: scenario.BusVirtio, Runs: map[string][]float64{
		scenario.MetricMiB: {4, 4, 4, 4, 4}, scenario.MetricG2MBps: {40, 50, 44, 30, 45},
		scenario.MetricHExits: {200, 210, 190, 205, 200}}}
	rows, err := diskBenchRows([]scenario.DiskBus{ide, vd})
	require.NoError(t, err)
	require.Len(t, rows, 2, "a row per figure both buses have")
	assert.Equal(t, "disk bus in G2, G2 read MB/s: IDE 0.12 (min 0.10, max 0.20), virtio-blk 44.00 (min 30.00, max 50.00),"+
		" ratio 0.00273 (median of 5 reads of 4 MiB per bus; per run 0.0025 0.004 0.00273 0.00367 0.00289)", rows[0].text)
	assert.InDelta(t, 0.12/44, rows[0].metrics["ratio"], 1e-12)
	assert.Contains(t, rows[1].text, "H exits per MiB (H's KVM, for G1's vCPU): IDE 60500 (min 59000, max 62000), virtio-blk 200")
	_, err = diskBenchRows([]scenario.DiskBus{vd, ide})
	assert.ErrorContains(t, err, "want the buses ide then virtio-blk")
}
