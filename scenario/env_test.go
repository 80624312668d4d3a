package scenario

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/guest/initkit"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/syncbuf"
	"github.com/gonest/gonest/launch"
	"github.com/gonest/gonest/launch/launchtest"
)

// testEnv is an Env at level whose console and log go to one buffer.
func testEnv(level string) (*Env, *syncbuf.Buffer) {
	var console syncbuf.Buffer
	return &Env{Log: initkit.NewLogger(&console, "init: "), Console: &console, Level: level}, &console
}

// scriptSpec is env's NextSpec with the next level played by a script.
func scriptSpec(t *testing.T, env *Env, script string) launch.Spec {
	t.Helper()
	s := env.NextSpec(context.Background(), "x", 64<<20)
	kernel, err := launchtest.Kernel(t.TempDir())
	require.NoError(t, err)
	s.VMM, s.Kernel, s.Initrd = launchtest.Script{Sh: script}, kernel, ""
	return s
}

func TestScenarioTable(t *testing.T) {
	seen := map[string]bool{}
	table := Table()
	for _, s := range table {
		assert.NotEmpty(t, s.Name)
		assert.NotEmpty(t, s.Doc, s.Name)
		assert.NotNil(t, s.Run, s.Name)
		assert.False(t, seen[s.Name], "duplicate scenario %s", s.Name)
		seen[s.Name] = true
	}
	for _, name := range []string{"boot", "kvmtests", "doctor", "doctor+kvmtests", "shell", "disk", "nested", "bench-blk-g1"} {
		_, ok := Lookup(table, name)
		assert.True(t, ok, name)
	}
	_, ok := Lookup(table, "nosuch")
	assert.False(t, ok)
}

func TestBudget(t *testing.T) {
	env := &Env{}
	assert.Equal(t, 7*time.Minute, env.Budget(context.Background(), 0.5, 7*time.Minute), "no deadline: the default")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	got := env.Budget(ctx, 0.8, 0)
	assert.True(t, got >= 79*time.Second && got <= 80*time.Second, "80%% of 100s, got %v", got)
	past, cancel2 := context.WithTimeout(context.Background(), 0)
	defer cancel2()
	assert.Equal(t, time.Second, env.Budget(past, 0.8, 0), "never below one second")
}

func TestEnvParam(t *testing.T) {
	env := &Env{Params: map[string]string{"gonest.testrun": "TestX"}}
	assert.Equal(t, "TestX", env.Param(guestabi.ParamTestRun, ""))
	assert.Equal(t, "5m", env.Param(guestabi.ParamTimeout, "5m"))
}

// TestNextSpec: the next level runs gonest-init with its level name,
// forwards markers and messages, reports its verdict in a message, and
// gets 80% of the time left while gonest gets 90% of it.
func TestNextSpec(t *testing.T) {
	env, _ := testEnv("H")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	s := env.NextSpec(ctx, "boot", 384<<20)
	assert.Equal(t, launch.Gonest{Binary: guestabi.GonestBinary, Forward: true}, s.VMM)
	assert.Equal(t, guestabi.NextKernel, s.Kernel)
	assert.Equal(t, guestabi.NextInitrd, s.Initrd)
	assert.Equal(t, "G1", s.Level)
	assert.True(t, s.GuestReports)
	assert.InDelta(t, 100, s.Timeout.Seconds(), 1)
	assert.InDelta(t, 80, s.GuestTimeout.Seconds(), 1)
	assert.Regexp(t, `^gonest\.scenario=boot gonest\.level=G1 gonest\.timeout=1m(19|20)s quiet$`, s.GuestCmdline())
}

func TestRunNext(t *testing.T) {
	tests := []struct {
		name     string
		script   string
		expect   guestabi.Verdict
		want     guestabi.Verdict
		wantTail bool
		log      string
	}{
		{"pass", "echo hi; " + launchtest.Send(guestabi.VerdictMessage(guestabi.Pass)), guestabi.Pass, guestabi.Pass, false,
			"init: next level passed level=G1"},
		{"no verdict", "echo booting; echo vmm-warning >&2; echo panic; exit 1", guestabi.Pass, guestabi.SetupError, true,
			`init: ERROR next level did not pass level=G1 verdict="setup error"`},
		{"expected code", launchtest.Send(guestabi.VerdictMessage(37)) + "; exit 37", 37, 37, false,
			"init: next level returned the verdict expected level=G1 verdict=verdict(37)"},
		{"expected no kvm", launchtest.Send(guestabi.VerdictMessage(guestabi.NoKVM)) + "; exit 5", guestabi.NoKVM, guestabi.NoKVM, false,
			"returned the verdict expected"},
		{"pass when another is expected", "echo hi; " + launchtest.Send(guestabi.VerdictMessage(guestabi.Pass)), 37, guestabi.Pass, true,
			"init: ERROR next level did not return the verdict expected level=G1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, console := testEnv("H")
			v, _ := env.RunNext(context.Background(), scriptSpec(t, env, tt.script), tt.expect, nil)
			assert.Equal(t, tt.want, v)
			out := console.String()
			assert.Contains(t, out, tt.log)
			assert.Contains(t, out, `init: starting next level level=G1 cmd="sh -c `)
			assert.Equal(t, tt.wantTail, strings.Contains(out, "--- last"), out)
		})
	}
}

// TestRunNextPrintsTails: a failing child's lines and its VMM's come again
// at the end of this level's console.
func TestRunNextPrintsTails(t *testing.T) {
	env, console := testEnv("H")
	v, _ := env.RunNext(context.Background(), scriptSpec(t, env, "echo booting; echo vmm-warning >&2; echo panic; exit 1"), guestabi.Pass, nil)
	assert.Equal(t, guestabi.SetupError, v)
	out := console.String()
	assert.Contains(t, out, "[G1] booting\n")
	assert.Contains(t, out, "\nvmm-warning\n", "the VMM's stderr passes through without the child prefix")
	assert.True(t, strings.HasSuffix(out, "--- last 2 lines of G1 ---\n  | booting\n  | panic\n--- last 1 lines of script ---\n  | vmm-warning\n"), out)
}

func TestRunNextRefusesBadSpec(t *testing.T) {
	env, console := testEnv("G1")
	s := env.NextSpec(context.Background(), "boot", 0)
	v, _ := env.RunNext(context.Background(), s, guestabi.Pass, nil)
	assert.Equal(t, guestabi.SetupError, v)
	assert.Contains(t, console.String(), "the next level cannot start")
}

func TestFailedTest(t *testing.T) {
	tests := []struct {
		line string
		want string
		ok   bool
	}{
		{"--- FAIL: TestTripleFault (0.09s)", "TestTripleFault", true},
		{"    --- FAIL: TestTinyGuests/real_mode (0.15s)", "TestTinyGuests/real_mode", true},
		{"--- PASS: TestX (0.00s)", "", false},
		{"FAIL", "", false},
		{"--- FAIL: ", "", false},
	}
	for _, tt := range tests {
		got, ok := failedTest(tt.line)
		assert.Equal(t, tt.ok, ok, tt.line)
		assert.Equal(t, tt.want, got, tt.line)
	}
}

func TestRunNotingFailures(t *testing.T) {
	env, console := testEnv("H")
	failed, err := runNotingFailures(env.Command(context.Background(), "sh", "-c",
		"echo '=== RUN TestA'; echo '--- FAIL: TestA (0.01s)'; echo '    --- FAIL: TestB/x (0.00s)' >&2; exit 1"), env.Console)
	assert.Error(t, err)
	assert.Equal(t, []string{"TestA", "TestB/x"}, failed)
	assert.Contains(t, console.String(), "=== RUN TestA\n--- FAIL: TestA (0.01s)\n")
}

func TestExitStatus(t *testing.T) {
	env, _ := testEnv("H")
	assert.Equal(t, 0, exitStatus(nil))
	assert.Equal(t, 3, exitStatus(env.Command(context.Background(), "sh", "-c", "exit 3").Run()))
	assert.Equal(t, -1, exitStatus(context.Canceled))
}
