package lab

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQEMUArgs(t *testing.T) {
	cfg := Config{Kernel: "/i/vmlinuz", Initrd: "/i/h.cpio.gz", Scenario: "kvmtests", Append: "gonest.testrun=TestX",
		Memory: "2G", CPUs: 1, Disks: []string{"/i/disk.ext4", "/odd,name.img"}}
	got := strings.Join(qemuArgs(cfg, "/tmp/m.sock"), " ")
	want := "-accel tcg -cpu EPYC,+svm -smp 1 -m 2G -nographic -no-reboot -nic none -kernel /i/vmlinuz -initrd /i/h.cpio.gz" +
		" -append console=ttyS0 panic=-1 quiet highres=off nohz=off no_timer_check gonest.scenario=kvmtests gonest.level=H gonest.testrun=TestX" +
		" -device isa-debug-exit,iobase=0xf4,iosize=0x04" +
		" -chardev socket,id=markers,path=/tmp/m.sock -device isa-debugcon,iobase=0xf8,chardev=markers" +
		" -drive file=/i/disk.ext4,if=none,id=disk0,format=raw,snapshot=on -device virtio-blk-pci,drive=disk0,serial=disk.ext4" +
		" -drive file=/odd,,name.img,if=none,id=disk1,format=raw,snapshot=on -device virtio-blk-pci,drive=disk1,serial=odd,,name.img"
	assert.Equal(t, want, got)
}

func TestQEMUArgsWritableDisks(t *testing.T) {
	cfg := Config{Kernel: "k", Initrd: "i", Scenario: "blk", Memory: "1G", CPUs: 1, WritableDisks: true,
		Disks: []string{"/t/blk-rw.ext4", "/t/a-name-longer-than-twenty.img"}}
	got := strings.Join(qemuArgs(cfg, ""), " ")
	assert.NotContains(t, got, "snapshot")
	assert.Contains(t, got, "-drive file=/t/blk-rw.ext4,if=none,id=disk0,format=raw -device virtio-blk-pci,drive=disk0,serial=blk-rw.ext4")
	assert.Contains(t, got, "-device virtio-blk-pci,drive=disk1,serial=a-name-longer-than-t")
	assert.True(t, strings.HasSuffix(got, "serial=a-name-longer-than-t"), "cut to 20 bytes")
}

func TestQEMUArgsWithoutMarkersOrDisks(t *testing.T) {
	got := qemuArgs(Config{Kernel: "k", Initrd: "i", Scenario: "shell", Memory: "1G", CPUs: 2}, "")
	assert.NotContains(t, got, "-chardev")
	assert.NotContains(t, got, "-drive")
	assert.Contains(t, got, "console=ttyS0 panic=-1 quiet highres=off nohz=off no_timer_check gonest.scenario=shell gonest.level=H")
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
		progress([]Mark{{Marker: guestabi.MarkerInitStarted, At: 5e9}, {Marker: guestabi.MarkerScenarioStart, At: 12.5e9}}))
	assert.Equal(t, `last marker G2 "init started" at 80.0s`,
		progress([]Mark{{Marker: guestabi.MarkerScenarioStart, At: 12.5e9}, {Marker: guestabi.MarkerInitStarted, Depth: 2, At: 80e9}}))
}

func TestDecodeMark(t *testing.T) {
	tests := []struct {
		b         byte
		want      Mark
		level, in string
	}{
		{1, Mark{Marker: guestabi.MarkerInitStarted, At: 7}, "H", `"init started"`},
		{0x44, Mark{Marker: guestabi.MarkerScenarioEnd, Depth: 1, At: 7}, "G1", `G1 "scenario end"`},
		{0x82, Mark{Marker: guestabi.MarkerModulesLoaded, Depth: 2, At: 7}, "G2", `G2 "modules loaded"`},
		{0xc3, Mark{Marker: guestabi.MarkerScenarioStart, Depth: 3, At: 7}, "G3", `G3 "scenario start"`},
		{guestabi.ForwardMarker(guestabi.ForwardMarker(1)), Mark{Marker: guestabi.MarkerInitStarted, Depth: 2, At: 7}, "G2", `G2 "init started"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := decodeMark(tt.b, 7)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.level, got.Level())
			assert.Equal(t, tt.in, got.String())
		})
	}
}

func TestResultMarkAt(t *testing.T) {
	r := Result{Marks: []Mark{
		{Marker: guestabi.MarkerInitStarted, Depth: 1, At: 3},
		{Marker: guestabi.MarkerInitStarted, At: 1},
		{Marker: guestabi.MarkerScenarioEnd, Depth: 2, At: 9},
	}}
	at, ok := r.Mark(guestabi.MarkerInitStarted)
	assert.True(t, ok)
	assert.Equal(t, time.Duration(1), at, "Mark is H's own marker")
	at, ok = r.MarkAt(1, guestabi.MarkerInitStarted)
	assert.True(t, ok)
	assert.Equal(t, time.Duration(3), at)
	_, ok = r.MarkAt(2, guestabi.MarkerInitStarted)
	assert.False(t, ok)
	assert.True(t, sawMarker(r.Marks, guestabi.MarkerInitStarted))
	assert.False(t, sawMarker(r.Marks, guestabi.MarkerScenarioEnd), "G2's scenario end is not H's")
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

// TestMarkersDrainedOnClose is the runner's side of a race a loaded host
// showed: QEMU connects, writes its markers and exits before the reader
// goroutine has accepted; Close must still collect every marker.
func TestMarkersDrainedOnClose(t *testing.T) {
	for i := range 20 {
		path := filepath.Join(t.TempDir(), "m.sock")
		ml, err := listenMarkers(path, time.Now(), nil)
		require.NoError(t, err)
		c, err := net.Dial("unix", path)
		require.NoError(t, err)
		_, err = c.Write([]byte{1, 2, 0x43, 4})
		require.NoError(t, err)
		require.NoError(t, c.Close())
		marks := ml.Close()
		require.Len(t, marks, 4, "run %d", i)
		assert.Equal(t, Mark{Marker: guestabi.MarkerScenarioStart, Depth: 1, At: marks[2].At}, marks[2])
	}
}

func TestMarkersCloseWithoutConnection(t *testing.T) {
	ml, err := listenMarkers(filepath.Join(t.TempDir(), "m.sock"), time.Now(), nil)
	require.NoError(t, err)
	start := time.Now()
	assert.Empty(t, ml.Close())
	assert.Less(t, time.Since(start), acceptGrace+5*time.Second, "a QEMU that never connected costs at most the grace")
}

func TestQEMUArgsNextImages(t *testing.T) {
	cfg := Config{Kernel: "k", Initrd: "i", Scenario: "l2-tiny", Memory: "2G", CPUs: 1,
		Disks: []string{"/i/disk.ext4"}, NextImages: "/i/h-next.ext4"}
	got := strings.Join(qemuArgs(cfg, ""), " ")
	assert.True(t, strings.HasSuffix(got,
		" -drive file=/i/h-next.ext4,if=none,id=next,format=raw,readonly=on -device virtio-blk-pci,drive=next"),
		"the next-level disk comes last, read-only: %s", got)
	assert.Less(t, strings.Index(got, "disk.ext4"), strings.Index(got, "h-next.ext4"), "Disks keep vda")
}
