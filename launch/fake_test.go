package launch_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/syncbuf"
	"github.com/gonest/gonest/launch"
	"github.com/gonest/gonest/launch/launchtest"
)

func fakeSpec(t *testing.T, script string, console *syncbuf.Buffer) launch.Spec {
	t.Helper()
	kernel, err := launchtest.Kernel(t.TempDir())
	require.NoError(t, err)
	return launch.Spec{VMM: launchtest.Script{Sh: script}, Kernel: kernel, Memory: 64 << 20, Level: "G1",
		Console: console, Timeout: time.Minute, GuestReports: true}
}

func TestRunReadsTheVerdictMessage(t *testing.T) {
	g2 := guestabi.MarkerMessage(guestabi.MarkerInitStarted).Forwarded()
	tests := []struct {
		name    string
		script  string
		reports bool
		want    guestabi.Verdict
		ok      bool
		why     string
	}{
		{"pass", launchtest.Send(guestabi.VerdictMessage(guestabi.Pass)), true, guestabi.Pass, true, "the guest reported verdict 0"},
		{"fail passed up", launchtest.Send(guestabi.VerdictMessage(guestabi.Fail)) + "; exit 1", true, guestabi.Fail, true, "reported verdict 1"},
		{"no kvm passed up", launchtest.Send(guestabi.VerdictMessage(guestabi.NoKVM)) + "; exit 5", true, guestabi.NoKVM, true, "verdict 5"},
		{"VMM refused to start", "echo 'gonest: bad flag' >&2; exit 2", true, guestabi.SetupError, false, "before the guest reported"},
		{"guest silent, VMM happy", "echo booted", true, guestabi.Fail, false, "never reported a verdict"},
		{"VMM crashed after a pass", launchtest.Send(guestabi.VerdictMessage(guestabi.Pass)) + "; exit 2", true, guestabi.Fail, false, "did the VMM crash?"},
		{"status 0 but guest failed", launchtest.Send(guestabi.VerdictMessage(guestabi.Fail)), true, guestabi.Fail, false,
			"exited with status 0 but the guest reported verdict 1"},
		{"signal after the report", launchtest.Send(guestabi.VerdictMessage(guestabi.Pass)) + "; exit 143", true, guestabi.Fail, false, "status 143"},
		{"a deeper level's verdict is not the guest's", launchtest.Send(guestabi.VerdictMessage(guestabi.Pass).Forwarded()) + "; exit 0", true,
			guestabi.Fail, false, "never reported"},
		{"a tiny guest's status is its verdict", "echo hi; exit 42", false, 42, true, "exit status 42 carries verdict 42"},
		{"a tiny guest's code above 127", "exit 130", false, guestabi.Fail, false, "status 130 and no verdict"},
		{"markers as messages", launchtest.Send(g2) + "; " + launchtest.Send(guestabi.VerdictMessage(guestabi.Pass)), true, guestabi.Pass, true, "verdict 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var console syncbuf.Buffer
			spec := fakeSpec(t, tt.script, &console)
			spec.GuestReports = tt.reports
			res, err := launch.Run(context.Background(), spec, nil)
			assert.Equal(t, tt.want, res.Verdict)
			assert.Contains(t, res.Reason, tt.why)
			if tt.ok {
				assert.NoError(t, err)
				return
			}
			var nv *launch.NoVerdictError
			require.ErrorAs(t, err, &nv)
			assert.Contains(t, err.Error(), tt.why)
		})
	}
}

// TestRunRecordsMarksAndMessages: marker messages become marks with their
// depth, every message is kept with its arrival time, and the observer
// sees them as they come.
func TestRunRecordsMarksAndMessages(t *testing.T) {
	g2 := guestabi.MarkerMessage(guestabi.MarkerInitStarted).Forwarded()
	script := strings.Join([]string{
		launchtest.Send(guestabi.MarkerMessage(guestabi.MarkerInitStarted)),
		"echo 'init: started'",
		launchtest.Send(g2),
		launchtest.Send(guestabi.EventMessage("blk-synced", "files", "200")),
		"printf 'not a message\\n@gonest {\"v\":7}\\n' >$MSG",
		launchtest.Send(guestabi.ResultMessage(guestabi.ResultBenchRow, "a row", nil)),
		launchtest.Send(guestabi.VerdictMessage(guestabi.Pass)),
	}, "; ")
	var console syncbuf.Buffer
	var mu sync.Mutex
	var seen []string
	obs := &launch.Observer{
		Message: func(m launch.Message) { mu.Lock(); seen = append(seen, string(m.Type)); mu.Unlock() },
		Mark:    func(m launch.Mark) { mu.Lock(); seen = append(seen, m.String()); mu.Unlock() },
	}
	res, err := launch.Run(context.Background(), fakeSpec(t, script, &console), obs)
	require.NoError(t, err)
	assert.Equal(t, []launch.Mark{{Marker: guestabi.MarkerInitStarted, At: res.Marks[0].At},
		{Marker: guestabi.MarkerInitStarted, Depth: 1, At: res.Marks[1].At}}, res.Marks)
	_, ok := res.MarkAt(1, guestabi.MarkerInitStarted)
	assert.True(t, ok)
	_, ok = res.Mark(guestabi.MarkerScenarioEnd)
	assert.False(t, ok)
	require.Len(t, res.Messages, 5, "the line without the prefix and the broken message are not messages")
	assert.Len(t, res.Events("blk-synced"), 1)
	assert.Equal(t, "a row", res.Results(0, guestabi.ResultBenchRow)[0].Result.Text)
	assert.Empty(t, res.Results(1, guestabi.ResultBenchRow))
	assert.Equal(t, []string{`"init started"`, "marker", `+1 "init started"`, "marker", "event", "result", "verdict"}, seen)
	assert.Equal(t, "[G1] init: started\n", console.String())
	assert.Equal(t, []string{"init: started"}, res.Tails["G1"])
}

// TestRunStreamsConsoleAndTails: the console is prefixed with the level,
// nested levels get tails of their own, the VMM's stderr passes through
// unprefixed to the VMM log, and a failure's error ends with the tails.
func TestRunStreamsConsoleAndTails(t *testing.T) {
	var console, vmmLog syncbuf.Buffer
	spec := fakeSpec(t, "echo booting; echo '[G2] hello from G2'; echo 'vmm-warning' >&2; printf 'panic\\r\\n'; exit 1", &console)
	spec.VMMLog = &vmmLog
	res, err := launch.Run(context.Background(), spec, nil)
	require.Error(t, err)
	assert.Equal(t, "[G1] booting\n[G1] [G2] hello from G2\n[G1] panic\n", console.String())
	assert.Equal(t, "vmm-warning\n", vmmLog.String())
	assert.Equal(t, map[string][]string{"G1": {"booting", "panic"}, "G1/G2": {"hello from G2"}, "script": {"vmm-warning"}}, res.Tails)
	assert.Contains(t, err.Error(), "script: script exited with status 1 before the guest reported a verdict"+
		"\n--- last 2 lines of G1 ---\n  | booting\n  | panic\n--- last 1 lines of script ---\n  | vmm-warning\n--- last 1 lines of G1/G2 ---\n  | hello from G2")
}

// TestRunObserverHidesAndSignals plays the SIGTERM run: the observer hides
// bulk lines and, on an event, signals the VMM, which exits 143.
func TestRunObserverHidesAndSignals(t *testing.T) {
	script := "trap 'exit 143' TERM; echo bulk 1; echo shown; " + launchtest.Send(guestabi.EventMessage("blk-synced")) +
		"; while :; do sleep 0.05; done"
	var console syncbuf.Buffer
	var proc *launch.Process
	signalled := false
	obs := &launch.Observer{
		Started: func(p *launch.Process) { proc = p },
		Line:    func(l string) bool { return strings.HasPrefix(l, "bulk") },
		Message: func(m launch.Message) {
			if m.IsEvent("blk-synced") {
				signalled = proc.Signal(syscall.SIGTERM) == nil
			}
		},
	}
	res, err := launch.Run(context.Background(), fakeSpec(t, script, &console), obs)
	require.Error(t, err, "SIGTERM before a verdict is no verdict")
	assert.True(t, signalled)
	assert.Equal(t, 143, res.ExitCode)
	assert.Equal(t, "[G1] shown\n", console.String())
	assert.Equal(t, 2, res.ConsoleLines)
	assert.Equal(t, 1, res.HiddenLines)
	assert.Equal(t, "sh", filepath.Base(proc.Args()[0]))
}

func TestRunTimeoutKillsTheVMM(t *testing.T) {
	var console syncbuf.Buffer
	spec := fakeSpec(t, "echo started; "+launchtest.Send(guestabi.MarkerMessage(guestabi.MarkerScenarioStart))+"; exec sleep 60", &console)
	spec.Timeout = 500 * time.Millisecond
	start := time.Now()
	res, err := launch.Run(context.Background(), spec, nil)
	require.Error(t, err)
	assert.True(t, res.TimedOut)
	assert.Less(t, time.Since(start), 30*time.Second, "killed, not waited for")
	assert.Contains(t, err.Error(), "timeout: no verdict within 500ms; script killed\n--- last 1 lines of G1 ---\n  | started")
	assert.Len(t, res.Marks, 1, "what arrived before the kill is kept")
}

func TestRunStdinAndInteractiveOff(t *testing.T) {
	var console syncbuf.Buffer
	spec := fakeSpec(t, "read x; echo \"got $x\"; "+launchtest.Send(guestabi.VerdictMessage(guestabi.Pass)), &console)
	spec.Stdin = strings.NewReader("from the parent\n")
	_, err := launch.Run(context.Background(), spec, nil)
	require.NoError(t, err)
	assert.Equal(t, "[G1] got from the parent\n", console.String())
}

func TestRunCutsEndlessConsoleLines(t *testing.T) {
	var console bytes.Buffer
	spec := fakeSpec(t, "head -c 20000 /dev/zero | tr '\\0' x; exit 0", nil)
	spec.Console = &console
	spec.GuestReports = false
	res, err := launch.Run(context.Background(), spec, nil)
	require.NoError(t, err)
	assert.Equal(t, 3, res.ConsoleLines, "8192 + 8192 + 3616 bytes")
	assert.Equal(t, 20000+3*len("[G1] \n"), console.Len())
}

// blindScript is a script VMM whose exit status says nothing (as Bochs's).
type blindScript struct{ launchtest.Script }

func (blindScript) StatusBlind()                        {}
func (blindScript) Decode(int) (guestabi.Verdict, bool) { return 0, false }

// TestRunStatusBlindVMM: for a VMM whose status means nothing, the
// verdict message alone decides.
func TestRunStatusBlindVMM(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   guestabi.Verdict
		ok     bool
		why    string
	}{
		{"pass, then status 1 as Bochs after a power-off", launchtest.Send(guestabi.VerdictMessage(guestabi.Pass)) + "; exit 1", guestabi.Pass, true,
			"the guest reported verdict 0 (pass); script's exit status 1 says nothing of it"},
		{"fail, status 0", launchtest.Send(guestabi.VerdictMessage(guestabi.Fail)), guestabi.Fail, true, "reported verdict 1"},
		{"a panic before the verdict", "echo 'panic' >&2; exit 1", guestabi.SetupError, false, "exited with status 1 before the guest reported a verdict"},
		{"a deeper level's verdict only", launchtest.Send(guestabi.VerdictMessage(guestabi.Pass).Forwarded()) + "; exit 1", guestabi.SetupError, false,
			"before the guest reported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var console syncbuf.Buffer
			spec := fakeSpec(t, tt.script, &console)
			spec.VMM = blindScript{launchtest.Script{Sh: tt.script}}
			res, err := launch.Run(context.Background(), spec, nil)
			assert.Equal(t, tt.want, res.Verdict)
			assert.Contains(t, res.Reason, tt.why)
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

// TestRunCPUTime: the VMM's CPU time is in the result.
func TestRunCPUTime(t *testing.T) {
	var console syncbuf.Buffer
	spin := "i=0; while [ $i -lt 50000 ]; do i=$((i+1)); done; " + launchtest.Send(guestabi.VerdictMessage(guestabi.Pass))
	res, err := launch.Run(context.Background(), fakeSpec(t, spin, &console), nil)
	require.NoError(t, err)
	assert.Positive(t, res.CPUTime, "a shell that counted to 50000 used some CPU")
}
