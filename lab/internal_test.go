package lab

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/gonest/gonest/guestabi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQEMUArgs(t *testing.T) {
	cfg := Config{Kernel: "/i/vmlinuz", Initrd: "/i/h.cpio.gz", Scenario: "kvmtests", Append: "gonest.testrun=TestX",
		Memory: "2G", CPUs: 1, Disks: []string{"/i/disk.ext4", "/odd,name.img"}}
	got := strings.Join(qemuArgs(cfg, "/tmp/m.sock"), " ")
	want := "-accel tcg -cpu EPYC,+svm -smp 1 -m 2G -nographic -no-reboot -nic none -kernel /i/vmlinuz -initrd /i/h.cpio.gz" +
		" -append console=ttyS0 panic=-1 quiet gonest.scenario=kvmtests gonest.level=H gonest.testrun=TestX" +
		" -device isa-debug-exit,iobase=0xf4,iosize=0x04" +
		" -chardev socket,id=markers,path=/tmp/m.sock -device isa-debugcon,iobase=0xf8,chardev=markers" +
		" -drive file=/i/disk.ext4,if=none,id=disk0,format=raw,snapshot=on -device virtio-blk-pci,drive=disk0" +
		" -drive file=/odd,,name.img,if=none,id=disk1,format=raw,snapshot=on -device virtio-blk-pci,drive=disk1"
	assert.Equal(t, want, got)
}

func TestQEMUArgsWithoutMarkersOrDisks(t *testing.T) {
	got := qemuArgs(Config{Kernel: "k", Initrd: "i", Scenario: "shell", Memory: "1G", CPUs: 2}, "")
	assert.NotContains(t, got, "-chardev")
	assert.NotContains(t, got, "-drive")
	assert.Contains(t, got, "console=ttyS0 panic=-1 quiet gonest.scenario=shell gonest.level=H")
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
		{7, guestabi.UnknownScenario, true},
		{9, guestabi.NothingToRun, true},
		{255, guestabi.Verdict(127), true},
		{0, 0, false},   // powered off or panicked: no verdict
		{2, 0, false},   // even: not from isa-debug-exit
		{-1, 0, false},  // killed by a signal
		{256, 0, false}, // not an exit status
	}
	for _, tt := range tests {
		v, ok := decodeStatus(tt.status)
		assert.Equal(t, tt.ok, ok, "status %d", tt.status)
		assert.Equal(t, tt.want, v, "status %d", tt.status)
	}
}

func TestSplitLevels(t *testing.T) {
	tests := []struct {
		line  string
		chain []string
		text  string
	}{
		{"init: started", nil, "init: started"},
		{"[G1] init: started", []string{"G1"}, "init: started"},
		{"[G1] [G2] hello", []string{"G1", "G2"}, "hello"},
		{"[    0.000000] Linux version", nil, "[    0.000000] Linux version"}, // a kernel timestamp is no level
		{"[G1] [    1.2] x", []string{"G1"}, "[    1.2] x"},
		{"[a b] x", nil, "[a b] x"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			chain, text := splitLevels(tt.line)
			assert.Equal(t, tt.chain, chain)
			assert.Equal(t, tt.text, text)
		})
	}
}

func TestConsoleTailsPerLevel(t *testing.T) {
	var log bytes.Buffer
	c := newConsole(&log, "H", 2)
	_, _ = c.Write([]byte("h1\r\nh2\n[G1] g1\n[G1] [G2] deep1\n[G1] [G2] deep2\n[G1] [G2] deep3\nh3\n[G1] g2"))
	c.Flush()
	assert.Equal(t, "[H] h1\n[H] h2\n[H] [G1] g1\n[H] [G1] [G2] deep1\n[H] [G1] [G2] deep2\n[H] [G1] [G2] deep3\n[H] h3\n[H] [G1] g2\n", log.String())
	assert.Equal(t, map[string][]string{
		"H":       {"h2", "h3"},
		"H/G1":    {"g1", "g2"},
		"H/G1/G2": {"deep2", "deep3"},
	}, c.Tails())
	assert.Equal(t, 8, c.Lines())
	assert.Equal(t,
		"\n--- last 2 lines of H ---\n  | h2\n  | h3"+
			"\n--- last 2 lines of H/G1 ---\n  | g1\n  | g2"+
			"\n--- last 2 lines of H/G1/G2 ---\n  | deep2\n  | deep3",
		formatTails(c.Tails()))
}

func TestProgress(t *testing.T) {
	assert.Equal(t, "no boot marker arrived: the kernel never reached gonest-init", progress(nil))
	assert.Equal(t, `last marker "scenario start" at 12.5s`,
		progress([]Mark{{guestabi.MarkerInitStarted, 5e9}, {guestabi.MarkerScenarioStart, 12.5e9}}))
}

func TestQuoteArgs(t *testing.T) {
	assert.Equal(t, []string{"-m", "'a b'", `'it'\''s'`}, quoteArgs([]string{"-m", "a b", "it's"}))
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain\ttext", "plain\ttext"},
		{"\x1bc\x1b[?7l\x1b[2Jinit: started\r", "init: started"},
		{"\x1b[0mSeaBIOS", "SeaBIOS"},
		{"bell\x07 nul\x00 del\x7f", "bell nul del"},
		{"cut \x1b[", "cut "},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, sanitize(tt.in), "%q", tt.in)
	}
}

func TestConsoleHidesAndCounts(t *testing.T) {
	var log bytes.Buffer
	c := newConsole(&log, "qemu", 5)
	c.hide = tcgWarning
	_, _ = c.Write([]byte("qemu-system-x86_64: warning: TCG doesn't support requested feature: CPUID.07H:EBX.rdseed [bit 18]\nreal error\n"))
	assert.Equal(t, "[qemu] real error\n", log.String())
	assert.Equal(t, 1, c.hidden)
	assert.Equal(t, []string{"real error"}, c.Tails()["qemu"])
}

func TestDiskImageSourceMatchesGuestCheck(t *testing.T) {
	// images.mk builds disk.ext4 from images/disk/; the guest's disk
	// scenario compares against guestabi.
	got, err := os.ReadFile("../images/disk/" + guestabi.DiskCheckFile)
	require.NoError(t, err)
	assert.Equal(t, guestabi.DiskCheckText, string(got))
}
