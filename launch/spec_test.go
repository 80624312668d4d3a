package launch

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
	"github.com/gonest/gonest/machine"
)

// TestRunRefusesBadSpecs: a spec that cannot start gives an error naming
// the field, and nothing runs (the fake VMM would leave a file).
func TestRunRefusesBadSpecs(t *testing.T) {
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	kernel := kernelFile(t)
	good := func() Spec {
		return Spec{VMM: shVMM{script: "touch " + ran}, Kernel: kernel, Memory: 64 << 20}
	}
	tests := []struct {
		name   string
		mutate func(*Spec)
		field  string
		want   string
	}{
		{"no VMM", func(s *Spec) { s.VMM = nil }, "VMM", "none given"},
		{"no kernel", func(s *Spec) { s.Kernel = "" }, "Kernel", "no kernel given"},
		{"missing kernel", func(s *Spec) { s.Kernel = filepath.Join(dir, "nope") }, "Kernel", "no such file"},
		{"kernel is a directory", func(s *Spec) { s.Kernel = dir }, "Kernel", "not a regular file"},
		{"missing initrd", func(s *Spec) { s.Initrd = filepath.Join(dir, "nope.cpio") }, "Initrd", "no such file"},
		{"zero memory", func(s *Spec) { s.Memory = 0 }, "Memory", "zero"},
		{"odd memory", func(s *Spec) { s.Memory = 1000 }, "Memory", "whole number of MiB"},
		{"negative CPUs", func(s *Spec) { s.CPUs = -1 }, "CPUs", "want 1 or more"},
		{"missing disk", func(s *Spec) { s.Disks = []Disk{{Path: filepath.Join(dir, "d.img")}} }, "Disks[0]", "no such file"},
		{"long serial", func(s *Spec) { s.Disks = []Disk{{Path: kernel, Serial: strings.Repeat("s", 21)}} }, "Disks[0]", "20 bytes"},
		{"bad nested", func(s *Spec) { s.Nested = "maybe" }, "Nested", `"maybe"`},
		{"negative timeout", func(s *Spec) { s.Timeout = -time.Second }, "Timeout", "negative"},
		{"scenario with a space", func(s *Spec) { s.Scenario = "a b" }, "Scenario", "space"},
		{"param with a quote", func(s *Spec) { s.Params = map[string]string{"gonest.x": `"`} }, "Params", "without quotes"},
		{"gonest not found", func(s *Spec) { s.VMM = Gonest{Binary: filepath.Join(dir, "no-gonest")} }, "VMM", "make build"},
		{"qemu not found", func(s *Spec) { s.VMM = QEMU{Binary: filepath.Join(dir, "no-qemu")} }, "VMM", "apt-get install -y qemu-system-x86"},
		{"qemu has no stats", func(s *Spec) { s.VMM = QEMU{Binary: "sh"}; s.StatsJSON = true }, "Stats", "gonest's"},
		{"qemu has no -nested off", func(s *Spec) { s.VMM = QEMU{Binary: "sh"}; s.Nested = "off" }, "Nested", "gonest's -nested"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good()
			tt.mutate(&s)
			_, err := Run(context.Background(), s, nil)
			var se *SpecError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.field, se.Field)
			assert.Contains(t, err.Error(), "launch: "+tt.field+": ")
			assert.Contains(t, err.Error(), tt.want)
			assert.NoFileExists(t, ran, "nothing was started")
		})
	}
	_, err := Run(context.Background(), good(), nil)
	assert.NoError(t, err)
	assert.FileExists(t, ran, "the good spec runs")
}

func TestGuestCmdline(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"nothing", Spec{}, ""},
		{"append only", Spec{Append: "quiet"}, "quiet"},
		{"gonest-init", Spec{Scenario: "nested", Level: "G1", GuestTimeout: 80*time.Second + 300*time.Millisecond,
			Params: map[string]string{"gonest.next": "boot", "gonest.code": "9", "gonest.note": "two words", "gonest.e": ""},
			Append: "quiet nosoftlockup"},
			`gonest.scenario=nested gonest.level=G1 gonest.timeout=1m20s gonest.code=9 gonest.e="" gonest.next=boot gonest.note="two words" quiet nosoftlockup`},
		{"default level", Spec{Scenario: "boot"}, "gonest.scenario=boot gonest.level=guest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.spec.GuestCmdline())
		})
	}
}

// wiringFor is a Wiring for building a command outside Run.
func wiringFor(t *testing.T, s *Spec) *Wiring {
	w := s.wiring(&recorder{}, t.TempDir())
	t.Cleanup(w.finish)
	return w
}

func TestGonestCommand(t *testing.T) {
	s := Spec{VMM: Gonest{Binary: "/bin/gonest", Forward: true}, Kernel: "/n/vmlinuz", Initrd: "/n/initrd", Memory: 1 << 30,
		CPUs: 2, Disks: []Disk{{Path: "/n/next.ext4", ReadOnly: true}, {Path: "/dev/vda", Serial: "blk-rw.ext4"}},
		Nested: "off", Stats: true, StatsJSON: true, NestedState: true, Timeout: 100 * time.Second,
		Scenario: "boot", Level: "G1", GuestTimeout: 80 * time.Second, Append: "quiet"}
	w := wiringFor(t, &s)
	cmd, err := s.VMM.Command(context.Background(), &s, w)
	require.NoError(t, err)
	assert.Equal(t, "/bin/gonest run -m 1G -kernel /n/vmlinuz -initrd /n/initrd -smp 2"+
		" -disk /n/next.ext4,ro -disk /dev/vda,serial=blk-rw.ext4 -nested off"+
		" -stats -stats-json "+filepath.Join(w.Dir(), "stats.json")+" -nested-state -timeout 1m30s"+
		" -messages /dev/fd/3 -forward -append gonest.scenario=boot gonest.level=G1 gonest.timeout=1m20s quiet",
		strings.Join(cmd.Args, " "), "gonest stops at 90%% of the timeout, the guest at its own")
	assert.Len(t, cmd.ExtraFiles, 1, "the message pipe is fd 3")

	tiny := Spec{VMM: Gonest{}, Kernel: "/t/tiny.elf", Memory: 16 << 20}
	cmd, err = tiny.VMM.Command(context.Background(), &tiny, wiringFor(t, &tiny))
	require.NoError(t, err)
	assert.Equal(t, "gonest run -m 16M -kernel /t/tiny.elf -messages /dev/fd/3", strings.Join(cmd.Args, " "))
}

func TestQEMUCommand(t *testing.T) {
	s := Spec{VMM: QEMU{Binary: "/usr/bin/qemu-system-x86_64", Machine: "microvm,pcie=on"}, Kernel: "/n/vmlinuz",
		Initrd: "/n/initrd", Memory: 512 << 20, Disks: []Disk{{Path: "/tmp/b.img", ReadOnly: true, Serial: "bench-blk"}},
		Scenario: "bench-blk-g1", Level: "G1", Append: "quiet"}
	w := wiringFor(t, &s)
	cmd, err := s.VMM.Command(context.Background(), &s, w)
	require.NoError(t, err)
	got := strings.Join(cmd.Args, " ")
	assert.True(t, strings.HasPrefix(got, "/usr/bin/qemu-system-x86_64 -M microvm,pcie=on -enable-kvm -cpu host -m 512M -smp 1"+
		" -nodefaults -no-user-config -display none -no-reboot -serial stdio -monitor none -kernel /n/vmlinuz -initrd /n/initrd"+
		" -append console=ttyS0 earlyprintk=ttyS0 reboot=k panic=-1 i8042.noaux gonest.scenario=bench-blk-g1 gonest.level=G1 quiet"+
		" -device isa-debug-exit,iobase=0xf4,iosize=0x04 -chardev socket,id=markers,path="), got)
	assert.Contains(t, got, " -device isa-debugcon,iobase=0xf8,chardev=markers -chardev socket,id=messages,path=")
	assert.True(t, strings.HasSuffix(got, " -device isa-debugcon,iobase=0xe9,chardev=messages"+
		" -drive file=/tmp/b.img,if=none,id=disk0,format=raw,readonly=on -device virtio-blk-pci,drive=disk0,serial=bench-blk"), got)
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
		v, ok := QEMU{}.Decode(tt.status)
		assert.Equal(t, tt.ok, ok, "qemu status %d", tt.status)
		assert.Equal(t, tt.want, v, "qemu status %d", tt.status)
	}
	for status, want := range map[int]bool{0: true, 42: true, 127: true, 128: false, 143: false, -1: false} {
		v, ok := Gonest{}.Decode(status)
		assert.Equal(t, want, ok, "gonest status %d", status)
		if ok {
			assert.Equal(t, guestabi.Verdict(status), v)
		}
	}
}

func TestMemorySizes(t *testing.T) {
	for in, want := range map[string]uint64{"512M": 512 << 20, "2G": 2 << 30, "384": 384 << 20, "1g": 1 << 30, "65536K": 64 << 20} {
		got, err := ParseMemory(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "0", "M", "-1G", "12Q", "99999999999T"} {
		_, err := ParseMemory(bad)
		assert.ErrorContains(t, err, "want a size", bad)
	}
	s, err := FormatMemory(2 << 30)
	require.NoError(t, err)
	assert.Equal(t, "2G", s)
	s, err = FormatMemory(384 << 20)
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
	st, err := ReadStats(write(machine.Stats{
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
	st, err = ReadStats(write(machine.Stats{Outcome: exitPort.String()}))
	require.NoError(t, err)
	assert.False(t, st.PoweredOff(), "the exit port is not a poweroff: %q", st.Outcome)
	_, err = ReadStats(filepath.Join(t.TempDir(), "missing.json"))
	assert.ErrorContains(t, err, "gonest statistics: open")
}
