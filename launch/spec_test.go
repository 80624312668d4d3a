package launch_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/ktrace"
	"github.com/gonest/gonest/launch"
	"github.com/gonest/gonest/launch/launchtest"
	"github.com/gonest/gonest/machine"
	"github.com/gonest/gonest/window"
)

// TestRunRefusesBadSpecs: a spec that cannot start gives an error naming
// the field, and nothing runs (the fake VMM would leave a file).
func TestRunRefusesBadSpecs(t *testing.T) {
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	kernel, err := launchtest.Kernel(t.TempDir())
	require.NoError(t, err)
	good := func() launch.Spec {
		return launch.Spec{VMM: launchtest.Script{Sh: "touch " + ran}, Kernel: kernel, Memory: 64 << 20}
	}
	tests := []struct {
		name   string
		mutate func(*launch.Spec)
		field  string
		want   string
	}{
		{"no VMM", func(s *launch.Spec) { s.VMM = nil }, "VMM", "none given"},
		{"no kernel", func(s *launch.Spec) { s.Kernel = "" }, "Kernel", "no kernel given"},
		{"missing kernel", func(s *launch.Spec) { s.Kernel = filepath.Join(dir, "nope") }, "Kernel", "no such file"},
		{"kernel is a directory", func(s *launch.Spec) { s.Kernel = dir }, "Kernel", "not a regular file"},
		{"missing initrd", func(s *launch.Spec) { s.Initrd = filepath.Join(dir, "nope.cpio") }, "Initrd", "no such file"},
		{"zero memory", func(s *launch.Spec) { s.Memory = 0 }, "Memory", "zero"},
		{"odd memory", func(s *launch.Spec) { s.Memory = 1000 }, "Memory", "whole number of MiB"},
		{"negative CPUs", func(s *launch.Spec) { s.CPUs = -1 }, "CPUs", "want 1 or more"},
		{"missing disk", func(s *launch.Spec) { s.Disks = []launch.Disk{{Path: filepath.Join(dir, "d.img")}} }, "Disks[0]", "no such file"},
		{"long serial", func(s *launch.Spec) { s.Disks = []launch.Disk{{Path: kernel, Serial: strings.Repeat("s", 21)}} }, "Disks[0]", "20 bytes"},
		{"bad nested", func(s *launch.Spec) { s.Nested = "maybe" }, "Nested", `"maybe"`},
		{"negative timeout", func(s *launch.Spec) { s.Timeout = -time.Second }, "Timeout", "negative"},
		{"scenario with a space", func(s *launch.Spec) { s.Scenario = "a b" }, "Scenario", "space"},
		{"param with a quote", func(s *launch.Spec) { s.Params = map[string]string{"gonest.x": `"`} }, "Params", "without quotes"},
		{"gonest not found", func(s *launch.Spec) { s.VMM = launch.Gonest{Binary: filepath.Join(dir, "no-gonest")} }, "VMM", "make build"},
		{"qemu not found", func(s *launch.Spec) { s.VMM = launch.QEMU{Binary: filepath.Join(dir, "no-qemu")} }, "VMM", "apt-get install -y qemu-system-x86"},
		{"qemu has no stats", func(s *launch.Spec) { s.VMM = launch.QEMU{Binary: "sh"}; s.StatsJSON = true }, "Stats", "gonest's"},
		{"qemu has no series", func(s *launch.Spec) { s.VMM = launch.QEMU{Binary: "sh"}; s.StatsInterval = time.Second }, "Stats", "-window"},
		{"negative stats interval", func(s *launch.Spec) { s.StatsInterval = -time.Second }, "StatsInterval", "negative"},
		{"qemu has no windows", func(s *launch.Spec) { s.VMM = launch.QEMU{Binary: "sh"}; s.Window = "3..4" }, "Stats", "-window"},
		{"qemu has no IDE", func(s *launch.Spec) {
			s.VMM = launch.QEMU{Binary: "sh"}
			s.Disks = []launch.Disk{{Path: kernel, IDE: true}}
		}, "Disks[0]", "if=ide"},
		{"qemu loader not found", func(s *launch.Spec) {
			s.VMM = launch.QEMU{Binary: "sh", Loader: []string{filepath.Join(dir, "no-ld.so")}}
		}, "VMM", "loader"},
		{"qemu has no exit trace", func(s *launch.Spec) { s.VMM = launch.QEMU{Binary: "sh"}; s.TraceExits = true }, "Stats", "gonest's"},
		{"window with a newline", func(s *launch.Spec) { s.Window = "a..b\nc" }, "Window", "newline"},
		{"qemu has no -nested off", func(s *launch.Spec) { s.VMM = launch.QEMU{Binary: "sh"}; s.Nested = "off" }, "Nested", "gonest's -nested"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good()
			tt.mutate(&s)
			_, err := launch.Run(context.Background(), s, nil)
			var se *launch.SpecError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.field, se.Field)
			assert.Contains(t, err.Error(), "launch: "+tt.field+": ")
			assert.Contains(t, err.Error(), tt.want)
			assert.NoFileExists(t, ran, "nothing was started")
		})
	}
	_, err = launch.Run(context.Background(), good(), nil)
	assert.NoError(t, err)
	assert.FileExists(t, ran, "the good spec runs")
}

func TestGuestCmdline(t *testing.T) {
	tests := []struct {
		name string
		spec launch.Spec
		want string
	}{
		{"nothing", launch.Spec{}, ""},
		{"append only", launch.Spec{Append: "quiet"}, "quiet"},
		{"gonest-init", launch.Spec{Scenario: "nested", Level: "G1", GuestTimeout: 80*time.Second + 300*time.Millisecond,
			Params: map[string]string{"gonest.next": "boot", "gonest.code": "9", "gonest.note": "two words", "gonest.e": ""},
			Append: "quiet nosoftlockup"},
			`gonest.scenario=nested gonest.level=G1 gonest.timeout=1m20s gonest.code=9 gonest.e="" gonest.next=boot gonest.note="two words" quiet nosoftlockup`},
		{"default level", launch.Spec{Scenario: "boot"}, "gonest.scenario=boot gonest.level=guest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.spec.GuestCmdline())
		})
	}
}

func TestDecodeStatus(t *testing.T) {
	tests := []struct {
		status int
		want   guestabi.Verdict
		ok     bool
	}{
		{1, guestabi.Pass, true},
		{3, guestabi.Fail, true},
		{5, guestabi.SetupError, true},
		{255, guestabi.Verdict(127), true},
		{0, 0, false},   // powered off or panicked: no verdict
		{2, 0, false},   // even: not from isa-debug-exit
		{-1, 0, false},  // killed by a signal
		{256, 0, false}, // not an exit status
	}
	for _, tt := range tests {
		v, ok := launch.QEMU{}.Decode(tt.status)
		assert.Equal(t, tt.ok, ok, "qemu status %d", tt.status)
		assert.Equal(t, tt.want, v, "qemu status %d", tt.status)
	}
	for status, want := range map[int]bool{0: true, 42: true, 127: true, 128: false, 143: false, -1: false} {
		v, ok := launch.Gonest{}.Decode(status)
		assert.Equal(t, want, ok, "gonest status %d", status)
		if ok {
			assert.Equal(t, guestabi.Verdict(status), v)
		}
	}
}

func TestMemorySizes(t *testing.T) {
	for in, want := range map[string]uint64{"512M": 512 << 20, "2G": 2 << 30, "384": 384 << 20, "1g": 1 << 30, "65536K": 64 << 20} {
		got, err := launch.ParseMemory(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "0", "M", "-1G", "12Q", "99999999999T"} {
		_, err := launch.ParseMemory(bad)
		assert.ErrorContains(t, err, "want a size", bad)
	}
	s, err := launch.FormatMemory(2 << 30)
	require.NoError(t, err)
	assert.Equal(t, "2G", s)
	s, err = launch.FormatMemory(384 << 20)
	require.NoError(t, err)
	assert.Equal(t, "384M", s)
}

// TestStatsReadsMachineStats keeps Stats in step with what gonest run
// -stats-json writes (machine.Stats).
func TestStatsReadsMachineStats(t *testing.T) {
	write := func(s machine.Stats) string {
		data, err := json.Marshal(s)
		require.NoError(t, err)
		path := filepath.Join(t.TempDir(), "stats.json")
		require.NoError(t, os.WriteFile(path, data, 0o644))
		return path
	}
	out := machine.Outcome{Reason: machine.ReasonPoweroff, Code: machine.ExitOK}
	st, err := launch.ReadStats(write(machine.Stats{
		Outcome: out.String(),
		KVM: machine.KVMStats{Available: true, VCPUs: []map[string]uint64{
			{"nested_run": 5, "exits": 100}, {"nested_run": 7}}},
		Timeline: []machine.TimelinePoint{{Event: string(machine.EventVMMStart)},
			{Event: "guest: " + guestabi.MarkerInitStarted.String(), Ms: 1234.5}},
	}))
	require.NoError(t, err)
	assert.True(t, st.PoweredOff(), "outcome %q", st.Outcome)
	n, ok := st.VCPUSum("nested_run")
	assert.True(t, ok)
	assert.Equal(t, uint64(12), n)
	ms, ok := st.Event("guest: init started")
	assert.True(t, ok)
	assert.Equal(t, 1234.5, ms)
	_, ok = st.Event("never")
	assert.False(t, ok)

	exitPort := machine.Outcome{Reason: machine.ReasonExitPort, Code: 0}
	st, err = launch.ReadStats(write(machine.Stats{Outcome: exitPort.String()}))
	require.NoError(t, err)
	assert.False(t, st.PoweredOff(), "the exit port is not a poweroff: %q", st.Outcome)
	_, err = launch.ReadStats(filepath.Join(t.TempDir(), "missing.json"))
	assert.ErrorContains(t, err, "gonest statistics: open")
}

// TestStatsReadsWindows keeps Stats.Windows in step with the windows
// gonest run -stats-json writes (window.Result).
func TestStatsReadsWindows(t *testing.T) {
	res := window.Result{Index: 2, Spec: "measure start..measure end", DurationMs: 1500, Complete: true,
		Exits: map[string]int64{"KVM_EXIT_IO": 2500, "KVM_EXIT_MMIO": 3},
		KVM: window.KVMDelta{Available: true, VM: map[string]int64{"pages_2m": 1},
			VCPUs: []map[string]int64{{"exits": 9000, "nested_run": 40}, {"exits": 1000}}},
		Trace: &ktrace.Counts{Method: ktrace.MethodHist, Events: []ktrace.EventCount{{Event: "kvm_exit", Total: 77}}}}
	data, err := json.Marshal(map[string]any{"outcome": "exit device (exit 0)", "windows": []window.Result{res}})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "stats.json")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	st, err := launch.ReadStats(path)
	require.NoError(t, err)
	require.Len(t, st.Windows, 1)
	w := st.Windows[0]
	assert.Equal(t, 2, w.Index)
	assert.Equal(t, "measure start..measure end", w.Spec)
	assert.Equal(t, 1500.0, w.DurationMs)
	assert.True(t, w.Complete)
	assert.Equal(t, int64(2503), w.UserspaceExits())
	exits, ok := w.VCPUSum("exits")
	assert.True(t, ok)
	assert.Equal(t, int64(10000), exits)
	runs, _ := w.VCPUSum("nested_run")
	assert.Equal(t, int64(40), runs)
	require.NotNil(t, w.Trace)
	assert.Equal(t, uint64(77), w.Trace.Event("kvm_exit").Total)

	res.KVM = window.KVMDelta{Reason: "no KVM_GET_STATS_FD"}
	data, err = json.Marshal(map[string]any{"windows": []window.Result{res}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data, 0o644))
	st, err = launch.ReadStats(path)
	require.NoError(t, err)
	_, ok = st.Windows[0].VCPUSum("exits")
	assert.False(t, ok, "counters unavailable")
	assert.Equal(t, "no KVM_GET_STATS_FD", st.Windows[0].KVM.Reason)
}
