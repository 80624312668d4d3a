package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/syncbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		name string
		line string
		want map[string]string
	}{
		{"lab line", "console=ttyS0 panic=-1 quiet gonest.scenario=kvmtests gonest.level=H",
			map[string]string{"console": "ttyS0", "panic": "-1", "quiet": "", "gonest.scenario": "kvmtests", "gonest.level": "H"}},
		{"quoted value", `gonest.testrun="TestA|TestB x" a=b`,
			map[string]string{"gonest.testrun": "TestA|TestB x", "a": "b"}},
		{"later wins, extra spaces", "  a=1   a=2\n", map[string]string{"a": "2"}},
		{"value with =", "root=PARTUUID=abc", map[string]string{"root": "PARTUUID=abc"}},
		{"empty", "", map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, parseCmdline(tt.line))
		})
	}
}

func TestLineWriterPrefixesAndKeepsTail(t *testing.T) {
	var out bytes.Buffer
	w := newLineWriter(&out, "[G1] ", 2)
	for _, chunk := range []string{"one\ntw", "o\r\nthree\n", "four"} {
		n, err := w.Write([]byte(chunk))
		require.NoError(t, err)
		assert.Equal(t, len(chunk), n)
	}
	assert.Equal(t, "[G1] one\n[G1] two\n[G1] three\n", out.String(), "partial line held back")
	assert.Equal(t, []string{"two", "three"}, w.Tail())
	require.NoError(t, w.Flush())
	assert.Equal(t, "[G1] one\n[G1] two\n[G1] three\n[G1] four\n", out.String())
	assert.Equal(t, []string{"three", "four"}, w.Tail())
}

func TestLineWriterCutsEndlessLine(t *testing.T) {
	var out bytes.Buffer
	w := newLineWriter(&out, "> ", 1)
	_, err := w.Write(bytes.Repeat([]byte("x"), maxLine+10))
	require.NoError(t, err)
	assert.Equal(t, "> "+strings.Repeat("x", maxLine+10)+"\n", out.String())
}

func TestConsoleHandler(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(newConsoleHandler(&out, "init: "))
	log.Info("module loaded", "name", "kvm_amd", "params", "nested=1", "took", "3ms")
	log.With("level", "H").WithGroup("g").Error("next level failed", "err", errors.New("exit status 1"))
	log.Debug("not shown")
	assert.Equal(t,
		"init: module loaded name=kvm_amd params=\"nested=1\" took=3ms\n"+
			"init: ERROR next level failed level=H g.err=\"exit status 1\"\n",
		out.String())
}

func TestCPUFlagsAndWantedModules(t *testing.T) {
	cpuinfo := func(flags string) string {
		return "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: " + flags + "\nbogomips\t: 1\n\nprocessor\t: 1\nflags\t\t: none\n"
	}
	tests := []struct {
		name  string
		flags string
		want  []string
	}{
		{"svm", "fpu sse4_2 svm npt", []string{"kvm_amd", "virtio_pci", "virtio_blk", "ext4"}},
		{"vmx", "fpu vmx ept", []string{"kvm_intel", "virtio_pci", "virtio_blk", "ext4"}},
		{"neither", "fpu hypervisor", []string{"virtio_pci", "virtio_blk", "ext4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flags := cpuFlags(strings.NewReader(cpuinfo(tt.flags)))
			assert.Equal(t, tt.want, wantedModules(flags))
		})
	}
}

func TestScenarioTable(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range scenarios {
		assert.NotEmpty(t, s.Name)
		assert.NotEmpty(t, s.Doc, s.Name)
		assert.NotNil(t, s.Run, s.Name)
		assert.False(t, seen[s.Name], "duplicate scenario %s", s.Name)
		seen[s.Name] = true
	}
	for _, name := range []string{"boot", "kvmtests", "doctor", "shell", "disk", "nested"} {
		_, ok := lookupScenario(name)
		assert.True(t, ok, name)
	}
	_, ok := lookupScenario("nosuch")
	assert.False(t, ok)
}

func TestNextMemory(t *testing.T) {
	assert.Equal(t, "1G", nextMemory("nested,boot"), "a level that boots another needs room for it")
	assert.Equal(t, "384M", nextMemory("kvmtests"))
	assert.Equal(t, "384M", nextMemory(""))
}

func TestNextCmdline(t *testing.T) {
	tests := []struct {
		level, next string
		timeout     time.Duration
		want        string
	}{
		{"H", "", 0, "quiet gonest.scenario=kvmtests gonest.level=G1"},
		{"H", "nested,kvmtests", 0, "quiet gonest.scenario=nested gonest.level=G1 gonest.next=kvmtests"},
		{"G1", "kvmtests", 150 * time.Second, "quiet gonest.scenario=kvmtests gonest.level=G2 gonest.timeout=2m30s"},
	}
	for _, tt := range tests {
		t.Run(tt.level+"/"+tt.next, func(t *testing.T) {
			assert.Equal(t, tt.want, nextCmdline(tt.level, tt.next, tt.timeout))
		})
	}
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

func TestChildVerdict(t *testing.T) {
	exitWith := func(code int) error {
		return exec.Command("sh", "-c", fmt.Sprintf("exit %d", code)).Run()
	}
	tests := []struct {
		name      string
		err       error
		reported  guestabi.Verdict
		sawReport bool
		want      guestabi.Verdict
		why       string
	}{
		{"pass", nil, guestabi.Pass, true, guestabi.Pass, "reported verdict 0"},
		{"fail passed up", exitWith(1), guestabi.Fail, true, guestabi.Fail, "reported verdict 1"},
		{"nothing to run passed up", exitWith(4), guestabi.NothingToRun, true, guestabi.NothingToRun, "reported verdict 4"},
		{"VMM refused to start", exitWith(2), 0, false, guestabi.SetupError, "before the guest reported"},
		{"guest silent, VMM happy", nil, 0, false, guestabi.Fail, "never reported"},
		{"VMM crashed after a pass", exitWith(2), guestabi.Pass, true, guestabi.Fail, "did the VMM crash?"},
		{"status 0 but guest failed", nil, guestabi.Fail, true, guestabi.Fail, "status 0 but the guest reported verdict 1"},
		{"not started", errors.New("exec: not found"), 0, false, guestabi.Fail, "did not exit normally"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := childVerdict(tt.err, tt.reported, tt.sawReport)
			assert.Equal(t, tt.want, got)
			assert.Contains(t, why, tt.why)
		})
	}
}

func TestParseVerdictLine(t *testing.T) {
	tests := []struct {
		line string
		want guestabi.Verdict
		ok   bool
	}{
		{"init: verdict code=0 verdict=pass", guestabi.Pass, true},
		{`init: verdict code=3 verdict="unknown scenario"`, guestabi.UnknownScenario, true},
		{"init: verdict code=300 verdict=x", 0, false},
		{"init: verdict code=x", 0, false},
		{"[G2] init: verdict code=0 verdict=pass", 0, false}, // a grandchild's line is not the child's
	}
	for _, tt := range tests {
		got, ok := parseVerdictLine(tt.line)
		assert.Equal(t, tt.ok, ok, tt.line)
		assert.Equal(t, tt.want, got, tt.line)
	}
}

func TestRunChildPrefixesAndPrintsTailOnFailure(t *testing.T) {
	var console syncbuf.Buffer
	env := &Env{Log: slog.New(newConsoleHandler(&console, "init: ")), Console: &console, Level: "H"}
	v := env.RunChild(context.Background(), "sh", "-c", "echo booting; echo vmm-warning >&2; echo panic; exit 1")
	assert.Equal(t, guestabi.SetupError, v, "no verdict line from the child")
	out := console.String()
	assert.Contains(t, out, "[G1] booting\n")
	assert.Contains(t, out, "\nvmm-warning\n", "stderr passes through without the child prefix")
	assert.Contains(t, out, "----- last 2 lines of G1 console -----\n  | booting\n  | panic\n----- end of G1 console -----\n")
	assert.Contains(t, out, "init: ERROR next level did not pass level=G1 verdict=\"setup error\"")
}

func TestRunChildSuccessPrintsNoTail(t *testing.T) {
	var console syncbuf.Buffer
	env := &Env{Log: slog.New(newConsoleHandler(&console, "init: ")), Console: &console, Level: "G1"}
	v := env.RunChild(context.Background(), "sh", "-c", "echo hi; echo 'init: verdict code=0 verdict=pass'")
	assert.Equal(t, guestabi.Pass, v)
	assert.Contains(t, console.String(), "[G2] hi\n")
	assert.NotContains(t, console.String(), "last")
}

func TestWaitForFile(t *testing.T) {
	dir := t.TempDir()
	err := waitForFile(context.Background(), dir+"/never", 120*time.Millisecond)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "did not appear within 120ms")

	go func() {
		time.Sleep(60 * time.Millisecond)
		_ = os.WriteFile(dir+"/later", nil, 0o644)
	}()
	assert.NoError(t, waitForFile(context.Background(), dir+"/later", 5*time.Second))
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

func TestLineWriterOnLine(t *testing.T) {
	var out bytes.Buffer
	var seen []string
	w := newLineWriter(&out, "", 0)
	w.onLine = func(s string) { seen = append(seen, s) }
	_, err := w.Write([]byte("a\nb\nc"))
	require.NoError(t, err)
	require.NoError(t, w.Flush())
	assert.Equal(t, []string{"a", "b", "c"}, seen)
	assert.Equal(t, "a\nb\nc\n", out.String())
	assert.Empty(t, w.Tail(), "keep 0 keeps no tail")
}

func TestEnvParam(t *testing.T) {
	env := &Env{Params: map[string]string{"gonest.testrun": "TestX"}}
	assert.Equal(t, "TestX", env.Param(guestabi.ParamTestRun, ""))
	assert.Equal(t, "5m", env.Param(guestabi.ParamTimeout, "5m"))
}
