package launch

import (
	"bytes"
	"context"
	"os"
	"os/exec"
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
)

// shVMM is a VMM played by a shell script: the guest's console is its
// stdout, $MSG the message channel (a pipe, as gonest's -messages, where
// markers come as marker messages), and its exit status is decoded as
// gonest's.
type shVMM struct {
	script string
}

func (shVMM) Name() string      { return "fake" }
func (shVMM) Check(*Spec) error { return nil }
func (v shVMM) Command(ctx context.Context, s *Spec, w *Wiring) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", v.script)
	msg, err := w.MessagePipe(cmd)
	if err != nil {
		return nil, err
	}
	cmd.Env = append(os.Environ(), "MSG="+msg, "CMDLINE="+s.GuestCmdline())
	return cmd, nil
}
func (shVMM) Decode(status int) (guestabi.Verdict, bool) { return Gonest{}.Decode(status) }

// msgLine is a message as a script prints it.
func msgLine(t *testing.T, m guestabi.Message) string {
	t.Helper()
	line, err := guestabi.EncodeMessage(m)
	require.NoError(t, err)
	return "printf '%s' '" + string(line) + "' >$MSG"
}

// kernelFile is a file that passes the spec's checks.
func kernelFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vmlinuz")
	require.NoError(t, os.WriteFile(p, []byte("k"), 0o644))
	return p
}

func fakeSpec(t *testing.T, script string, console *syncbuf.Buffer) Spec {
	return Spec{VMM: shVMM{script: script}, Kernel: kernelFile(t), Memory: 64 << 20, Level: "G1",
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
		{"pass", msgLine(t, guestabi.VerdictMessage(guestabi.Pass)), true, guestabi.Pass, true, "the guest reported verdict 0"},
		{"fail passed up", msgLine(t, guestabi.VerdictMessage(guestabi.Fail)) + "; exit 1", true, guestabi.Fail, true, "reported verdict 1"},
		{"no kvm passed up", msgLine(t, guestabi.VerdictMessage(guestabi.NoKVM)) + "; exit 5", true, guestabi.NoKVM, true, "verdict 5"},
		{"VMM refused to start", "echo 'gonest: bad flag' >&2; exit 2", true, guestabi.SetupError, false, "before the guest reported"},
		{"guest silent, VMM happy", "echo booted", true, guestabi.Fail, false, "never reported a verdict"},
		{"VMM crashed after a pass", msgLine(t, guestabi.VerdictMessage(guestabi.Pass)) + "; exit 2", true, guestabi.Fail, false, "did the VMM crash?"},
		{"status 0 but guest failed", msgLine(t, guestabi.VerdictMessage(guestabi.Fail)), true, guestabi.Fail, false,
			"exited with status 0 but the guest reported verdict 1"},
		{"signal after the report", msgLine(t, guestabi.VerdictMessage(guestabi.Pass)) + "; exit 143", true, guestabi.Fail, false, "status 143"},
		{"a deeper level's verdict is not the guest's", msgLine(t, guestabi.VerdictMessage(guestabi.Pass).Forwarded()) + "; exit 0", true,
			guestabi.Fail, false, "never reported"},
		{"a tiny guest's status is its verdict", "echo hi; exit 42", false, 42, true, "exit status 42 carries verdict 42"},
		{"a tiny guest's code above 127", "exit 130", false, guestabi.Fail, false, "status 130 and no verdict"},
		{"markers as messages", msgLine(t, g2) + "; " + msgLine(t, guestabi.VerdictMessage(guestabi.Pass)), true, guestabi.Pass, true, "verdict 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var console syncbuf.Buffer
			spec := fakeSpec(t, tt.script, &console)
			spec.GuestReports = tt.reports
			res, err := Run(context.Background(), spec, nil)
			assert.Equal(t, tt.want, res.Verdict)
			assert.Contains(t, res.Reason, tt.why)
			if tt.ok {
				assert.NoError(t, err)
				return
			}
			var nv *NoVerdictError
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
		msgLine(t, guestabi.MarkerMessage(guestabi.MarkerInitStarted)),
		"echo 'init: started'",
		msgLine(t, g2),
		msgLine(t, guestabi.EventMessage("blk-synced", "files", "200")),
		"printf 'not a message\\n@gonest {\"v\":7}\\n' >$MSG",
		msgLine(t, guestabi.ResultMessage(guestabi.ResultBenchRow, "a row", nil)),
		msgLine(t, guestabi.VerdictMessage(guestabi.Pass)),
	}, "; ")
	var console syncbuf.Buffer
	var mu sync.Mutex
	var seen []string
	obs := &Observer{
		Message: func(m Message) { mu.Lock(); seen = append(seen, string(m.Type)); mu.Unlock() },
		Mark:    func(m Mark) { mu.Lock(); seen = append(seen, m.String()); mu.Unlock() },
	}
	res, err := Run(context.Background(), fakeSpec(t, script, &console), obs)
	require.NoError(t, err)
	assert.Equal(t, []Mark{{Marker: guestabi.MarkerInitStarted, At: res.Marks[0].At},
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
	res, err := Run(context.Background(), spec, nil)
	require.Error(t, err)
	assert.Equal(t, "[G1] booting\n[G1] [G2] hello from G2\n[G1] panic\n", console.String())
	assert.Equal(t, "vmm-warning\n", vmmLog.String())
	assert.Equal(t, map[string][]string{"G1": {"booting", "panic"}, "G1/G2": {"hello from G2"}, "fake": {"vmm-warning"}}, res.Tails)
	assert.Contains(t, err.Error(), "fake: fake exited with status 1 before the guest reported a verdict"+
		"\n--- last 2 lines of G1 ---\n  | booting\n  | panic\n--- last 1 lines of fake ---\n  | vmm-warning\n--- last 1 lines of G1/G2 ---\n  | hello from G2")
}

// TestRunObserverHidesAndSignals plays the SIGTERM run: the observer hides
// bulk lines and, on an event, signals the VMM, which exits 143.
func TestRunObserverHidesAndSignals(t *testing.T) {
	script := "trap 'exit 143' TERM; echo bulk 1; echo shown; " + msgLine(t, guestabi.EventMessage("blk-synced")) +
		"; while :; do sleep 0.05; done"
	var console syncbuf.Buffer
	var proc *Process
	signalled := false
	obs := &Observer{
		Started: func(p *Process) { proc = p },
		Line:    func(l string) bool { return strings.HasPrefix(l, "bulk") },
		Message: func(m Message) {
			if m.IsEvent("blk-synced") {
				signalled = proc.Signal(syscall.SIGTERM) == nil
			}
		},
	}
	res, err := Run(context.Background(), fakeSpec(t, script, &console), obs)
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
	spec := fakeSpec(t, "echo started; "+msgLine(t, guestabi.MarkerMessage(guestabi.MarkerScenarioStart))+"; exec sleep 60", &console)
	spec.Timeout = 500 * time.Millisecond
	start := time.Now()
	res, err := Run(context.Background(), spec, nil)
	require.Error(t, err)
	assert.True(t, res.TimedOut)
	assert.Less(t, time.Since(start), 30*time.Second, "killed, not waited for")
	assert.Contains(t, err.Error(), "timeout: no verdict within 500ms; fake killed\n--- last 1 lines of G1 ---\n  | started")
	assert.Len(t, res.Marks, 1, "what arrived before the kill is kept")
}

func TestRunStdinAndInteractiveOff(t *testing.T) {
	var console syncbuf.Buffer
	spec := fakeSpec(t, "read x; echo \"got $x\"; "+msgLine(t, guestabi.VerdictMessage(guestabi.Pass)), &console)
	spec.Stdin = strings.NewReader("from the parent\n")
	_, err := Run(context.Background(), spec, nil)
	require.NoError(t, err)
	assert.Equal(t, "[G1] got from the parent\n", console.String())
}

func TestRunCutsEndlessConsoleLines(t *testing.T) {
	var console bytes.Buffer
	spec := fakeSpec(t, "head -c 20000 /dev/zero | tr '\\0' x; exit 0", nil)
	spec.Console = &console
	spec.GuestReports = false
	res, err := Run(context.Background(), spec, nil)
	require.NoError(t, err)
	assert.Equal(t, 3, res.ConsoleLines, "8192 + 8192 + 3616 bytes")
	assert.Equal(t, 20000+3*len("[G1] \n"), console.Len())
}
