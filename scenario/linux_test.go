package scenario

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
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

// g1Step is one thing G1 does in g1-checks: print a console line, or send
// an event (ev set).
type g1Step struct {
	line string
	ev   *guestabi.Message
}

func event(name string, kv ...string) g1Step {
	m := guestabi.EventMessage(name, kv...)
	return g1Step{ev: &m}
}

// g1Script is what g1-checks does when every check passes.
func g1Script(clockMs int64, inputSum string) []g1Step {
	steps := []g1Step{
		{line: "init: gonest doctor done level=G1 exit=0 can_nest=true"},
		event(eventWallclock, "unix_ms", strconv.FormatInt(clockMs, 10)),
		{line: "init: console ready bytes=65536 device=/dev/ttyS0"},
		event(eventConsoleReady),
		event(eventConsoleInput, "sha256", inputSum, "bytes", "65536"),
		{line: dataBegin},
	}
	for i := range dataLines {
		steps = append(steps, g1Step{line: dataLine(i)})
	}
	return append(steps, g1Step{line: dataEnd}, g1Step{line: "init: verdict code=0 verdict=pass"})
}

// play feeds steps to c as the launch observer would, and returns the
// console lines c lets through.
func play(c *consoleCheck, steps []g1Step) []string {
	var shown []string
	for _, s := range steps {
		if s.ev != nil {
			c.onMessage(launch.Message{Message: *s.ev})
			continue
		}
		if !c.onLine(s.line) {
			shown = append(shown, s.line)
		}
	}
	return shown
}

func TestConsoleCheck(t *testing.T) {
	hNow := time.UnixMilli(1_800_000_000_000)
	input := []byte("what H sends")
	sum := sha256.Sum256(input)
	good := hex.EncodeToString(sum[:])
	replace := func(steps []g1Step, i int, s g1Step) []g1Step {
		out := append([]g1Step(nil), steps...)
		out[i] = s
		return out
	}
	line := func(s string) g1Step { return g1Step{line: s} }
	const firstData = 6 // index of dataLine(0) in g1Script
	base := g1Script(hNow.UnixMilli()+1500, good)
	forwarded := guestabi.EventMessage(eventConsoleReady).Forwarded()
	tests := []struct {
		name  string
		steps []g1Step
		want  []string // substrings of the problems, in order; none for a pass
	}{
		{"all good", base, nil},
		{"clock 61 s behind", replace(base, 1, event(eventWallclock, "unix_ms", strconv.FormatInt(hNow.UnixMilli()-61_000, 10))),
			[]string{"G1's clock is -1m1s off H's"}},
		{"clock garbled", replace(base, 1, event(eventWallclock, "unix_ms", "soon")),
			[]string{"unreadable wallclock", "never printed its wall-clock time"}},
		{"input corrupted", replace(base, 4, event(eventConsoleInput, "sha256", "00ff")),
			[]string{"console input corrupted: H sent 65536 bytes with SHA-256 " + good + ", G1 read 00ff"}},
		{"never ready", replace(base, 3, g1Step{ev: &forwarded}), []string{"never said its console was ready"}},
		{"a log line is no event", replace(base, 3, line("init: console ready")), []string{"never said its console was ready"}},
		{"line lost", append(base[:firstData+3:firstData+3], base[firstData+4:]...),
			[]string{"1023 lines arrived, want 1024; 1020 differ from what G1 sent (first: line 3 is"}},
		{"two lines swapped", replace(replace(base, firstData+10, line(dataLine(11))), firstData+11, line(dataLine(10))),
			[]string{"1024 lines arrived, want 1024; 2 differ from what G1 sent (first: line 10 is"}},
		{"a kernel message in the data", replace(base, firstData+500, line("[   12.0] random: crng init done")),
			[]string{"1 differ", `line 500 is "[   12.0] random: crng init done"`}},
		{"output cut short", base[:firstData+100], []string{"console output never ended (100 lines seen)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sends := 0
			c := newConsoleCheck(func() time.Time { return hNow }, input, func() { sends++ })
			shown := play(c, tt.steps)
			problems := strings.Join(c.Problems(), "\n")
			if tt.want == nil {
				assert.Empty(t, problems)
			}
			for _, w := range tt.want {
				assert.Contains(t, problems, w)
			}
			if !strings.HasPrefix(tt.name, "never ready") && !strings.HasPrefix(tt.name, "a log line") {
				assert.Equal(t, 1, sends, "the input is sent once, on the ready event")
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
	assert.Equal(t, []string{
		"init: gonest doctor done level=G1 exit=0 can_nest=true",
		"init: console ready bytes=65536 device=/dev/ttyS0",
		dataBegin,
		dataEnd,
		"init: verdict code=0 verdict=pass",
	}, play(c, g1Script(time.Now().UnixMilli(), "x")))
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
		assert.Contains(t, err.Error(), guestabi.ParamCPUs)
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

func TestRunDoctorReportsExitStatus(t *testing.T) {
	// runDoctor runs guestabi.GonestBinary, absent on a development host.
	if _, err := os.Stat(guestabi.GonestBinary); err == nil {
		t.Skipf("%s exists on this host; the test needs it absent", guestabi.GonestBinary)
	}
	env, console := testEnv("G1")
	assert.Equal(t, -1, runDoctor(context.Background(), env))
	assert.Contains(t, console.String(), "init: ERROR gonest doctor did not run")
	assert.Equal(t, guestabi.SetupError, runDoctorScenario(context.Background(), env), "the doctor scenario without gonest")
	assert.Equal(t, guestabi.SetupError, runDoctorThenKVMTests(context.Background(), env), "doctor's verdict first")
}

func TestPreviousLevel(t *testing.T) {
	for level, want := range map[string]string{"G1": "H", "G2": "G1", "G3": "G2", "X": "?"} {
		assert.Equal(t, want, previousLevel(level), level)
	}
}
