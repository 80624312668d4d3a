package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/syncbuf"
	"github.com/gonest/gonest/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDataLinesAre64KiBOfDistinctHex(t *testing.T) {
	seen := map[string]bool{}
	total := 0
	for i := range dataLines {
		l := dataLine(i)
		_, err := hex.DecodeString(l)
		require.NoError(t, err, "line %d", i)
		assert.False(t, seen[l], "line %d repeats an earlier one", i)
		seen[l] = true
		total += len(l)
	}
	assert.Equal(t, consoleBytes, total, "the output test moves 64 KiB of payload")
	assert.Equal(t, dataLine(7), dataLine(7), "deterministic")
}

// g1Script is a G1 console that passes every check: what g1-checks prints.
func g1Script(clockMs int64, inputSum string) []string {
	lines := []string{
		"init: gonest doctor done level=G1 exit=0 can_nest=true",
		"init: wallclock unix_ms=" + strconv.FormatInt(clockMs, 10) + " utc=2026-11-26T17:00:00Z",
		"init: console ready bytes=65536 device=/dev/ttyS0",
		"init: console input sha256=" + inputSum + " bytes=65536",
		"init: console output begin lines=1024",
	}
	for i := range dataLines {
		lines = append(lines, dataLine(i))
	}
	return append(lines, "init: console output end lines=1024", "init: verdict code=0 verdict=pass")
}

func TestConsoleCheck(t *testing.T) {
	hNow := time.UnixMilli(1_800_000_000_000)
	input := []byte("what H sends")
	sum := sha256.Sum256(input)
	good := hex.EncodeToString(sum[:])
	replace := func(lines []string, i int, s string) []string {
		out := append([]string(nil), lines...)
		out[i] = s
		return out
	}
	const firstData = 5 // index of dataLine(0) in g1Script
	base := g1Script(hNow.UnixMilli()+1500, good)
	tests := []struct {
		name  string
		lines []string
		want  []string // substrings of the problems, in order; none for a pass
	}{
		{"all good", base, nil},
		{"clock 61 s behind", replace(base, 1, "init: wallclock unix_ms="+strconv.FormatInt(hNow.UnixMilli()-61_000, 10)),
			[]string{"G1's clock is -1m1s off H's"}},
		{"clock line garbled", replace(base, 1, "init: wallclock unix_ms=soon"),
			[]string{"unreadable wallclock line", "never printed its wall-clock time"}},
		{"input corrupted", replace(base, 3, "init: console input sha256=00ff bytes=65536"),
			[]string{"console input corrupted: H sent 65536 bytes with SHA-256 " + good + ", G1 read 00ff"}},
		{"never ready", append(base[:2:2], base[3:]...), []string{"never said its console was ready"}},
		{"line lost", append(base[:firstData+3:firstData+3], base[firstData+4:]...),
			[]string{"1023 lines arrived, want 1024; 1020 differ from what G1 sent (first: line 3 is"}},
		{"two lines swapped", replace(replace(base, firstData+10, dataLine(11)), firstData+11, dataLine(10)),
			[]string{"1024 lines arrived, want 1024; 2 differ from what G1 sent (first: line 10 is"}},
		{"a kernel message in the data", replace(base, firstData+500, "[   12.0] random: crng init done"),
			[]string{"1 differ", `line 500 is "[   12.0] random: crng init done"`}},
		{"output cut short", base[:firstData+100], []string{"console output never ended (100 lines seen)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sends := 0
			c := newConsoleCheck(func() time.Time { return hNow }, input, func() { sends++ })
			var shown []string
			for _, l := range tt.lines {
				c.onLine(l)
				if !c.hide(l) {
					shown = append(shown, l)
				}
			}
			problems := strings.Join(c.Problems(), "\n")
			if tt.want == nil {
				assert.Empty(t, problems)
			}
			for _, w := range tt.want {
				assert.Contains(t, problems, w)
			}
			if tt.name != "never ready" {
				assert.Equal(t, 1, sends, "the input is sent once, on the ready line")
			}
			assert.Less(t, len(shown), 8+badLinesShown, "the data lines stay off H's console")
			if tt.name == "a kernel message in the data" {
				assert.Contains(t, shown, "[   12.0] random: crng init done", "a line that differs stays in the log")
			}
		})
	}
}

func TestConsoleCheckHidesOnlyTheData(t *testing.T) {
	c := newConsoleCheck(time.Now, nil, func() {})
	var shown []string
	for _, l := range g1Script(time.Now().UnixMilli(), "x") {
		c.onLine(l)
		if !c.hide(l) {
			shown = append(shown, l)
		}
	}
	assert.Equal(t, []string{
		"init: gonest doctor done level=G1 exit=0 can_nest=true",
		shown[1], // the wallclock line
		"init: console ready bytes=65536 device=/dev/ttyS0",
		"init: console input sha256=x bytes=65536",
		"init: console output begin lines=1024",
		"init: console output end lines=1024",
		"init: verdict code=0 verdict=pass",
	}, shown)
}

func TestCountProcessors(t *testing.T) {
	tests := []struct {
		name    string
		cpuinfo string
		want    int
	}{
		{"two", "processor\t: 0\nvendor_id\t: AuthenticAMD\n\nprocessor\t: 1\nvendor_id\t: AuthenticAMD\n", 2},
		{"one", "processor\t: 0\nflags\t\t: fpu svm\n", 1},
		{"none", "", 0},
		{"model name is not a processor", "model name\t: processor X\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := countProcessors(strings.NewReader(tt.cpuinfo))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCheckProcessorsNeedsACount(t *testing.T) {
	for _, bad := range []string{"", "two", "0", "-1"} {
		err := checkProcessors(bad)
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), paramCPUs)
	}
}

func TestFillRandomIsSeeded(t *testing.T) {
	a, b, c := make([]byte, 1001), make([]byte, 1001), make([]byte, 1001)
	fillRandom(a, 1)
	fillRandom(b, 1)
	fillRandom(c, 2)
	assert.Equal(t, a, b)
	assert.NotEqual(t, a, c)
	assert.NotEqual(t, make([]byte, 1001), a)
}

// writeStats writes what gonest run -stats-json writes: machine.Stats.
func writeStats(t *testing.T, s machine.Stats) string {
	t.Helper()
	data, err := json.Marshal(s)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "stats.json")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	return path
}

func TestVMMStatsReadsMachineStats(t *testing.T) {
	out := machine.Outcome{Reason: machine.ReasonPoweroff, Code: machine.ExitOK}
	path := writeStats(t, machine.Stats{
		Outcome: out.String(),
		KVM: machine.KVMStats{Available: true, VCPUs: []map[string]uint64{
			{"nested_run": 5, "exits": 100}, {"nested_run": 7}}},
		Timeline: []machine.TimelinePoint{{Event: string(machine.EventVMMStart)},
			{Event: "guest: " + guestabi.MarkerInitStarted.String(), Ms: 1234.5}},
	})
	s, err := readVMMStats(path)
	require.NoError(t, err)
	assert.True(t, s.poweredOff(), "outcome %q", s.Outcome)
	n, ok := s.vcpuSum("nested_run")
	assert.True(t, ok)
	assert.Equal(t, uint64(12), n)
	ms, ok := s.event("guest: init started")
	assert.True(t, ok)
	assert.Equal(t, 1234.5, ms)
	_, ok = s.event("never")
	assert.False(t, ok)

	exitPort := machine.Outcome{Reason: machine.ReasonExitPort, Code: 0}
	s, err = readVMMStats(writeStats(t, machine.Stats{Outcome: exitPort.String()}))
	require.NoError(t, err)
	assert.False(t, s.poweredOff(), "the exit port is not a poweroff: %q", s.Outcome)
}

func TestSummarize(t *testing.T) {
	s := func(secs ...float64) []bootTiming {
		var ts []bootTiming
		for _, x := range secs {
			ts = append(ts, bootTiming{marker: time.Duration(x * float64(time.Second))})
		}
		return ts
	}
	pick := func(b bootTiming) time.Duration { return b.marker }
	tests := []struct {
		name string
		in   []bootTiming
		want string
	}{
		{"odd", s(9, 7, 8), "8.00 s (min 7.00, max 9.00)"},
		{"even", s(4, 1, 3, 2), "2.50 s (min 1.00, max 4.00)"},
		{"one", s(5), "5.00 s (min 5.00, max 5.00)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, summarize(tt.in, pick).String())
		})
	}
}

func TestRunChildIOFeedsStdinAndHidesLines(t *testing.T) {
	var console syncbuf.Buffer
	env := &Env{Log: slog.New(newConsoleHandler(&console, "init: ")), Console: &console, Level: "H"}
	var seen []string
	v := env.RunChildIO(context.Background(), ChildIO{
		Stdin:  strings.NewReader("from H\n"),
		OnLine: func(l string) { seen = append(seen, l) },
		Hide:   func(l string) bool { return strings.HasPrefix(l, "bulk") },
	}, "sh", "-c", "read x; echo \"got $x\"; echo bulk 1; echo bulk 2; echo 'init: verdict code=0 verdict=pass'")
	assert.Equal(t, guestabi.Pass, v)
	assert.Equal(t, []string{"got from H", "bulk 1", "bulk 2", "init: verdict code=0 verdict=pass"}, seen)
	assert.Contains(t, console.String(), "[G1] got from H\n")
	assert.NotContains(t, console.String(), "[G1] bulk")
}

func TestRunDoctorReportsExitStatus(t *testing.T) {
	// runDoctor runs guestabi.GonestBinary, absent on a development host.
	if _, err := os.Stat(guestabi.GonestBinary); err == nil {
		t.Skipf("%s exists on this host; the test needs it absent", guestabi.GonestBinary)
	}
	var console bytes.Buffer
	env := &Env{Log: slog.New(newConsoleHandler(&console, "init: ")), Console: &console, Level: "G1"}
	assert.Equal(t, -1, runDoctor(context.Background(), env))
	assert.Contains(t, console.String(), "init: ERROR gonest doctor did not run")
}

func TestPreviousLevel(t *testing.T) {
	for level, want := range map[string]string{"G1": "H", "G2": "G1", "G3": "G2", "X": "?"} {
		assert.Equal(t, want, previousLevel(level), level)
	}
}
