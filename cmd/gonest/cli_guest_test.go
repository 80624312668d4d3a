package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/tinyelf"
	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/kvm/kvmtest"
)

// End-to-end tiny guests through the gonest binary, on this host's
// /dev/kvm: what a CI job sees.

// guestLimit bounds each guest run: tiny guests finish in milliseconds.
const guestLimit = 60 * time.Second

// needKVM skips (or, with GONEST_REQUIRE_KVM=1, fails) without /dev/kvm.
func needKVM(t *testing.T) {
	t.Helper()
	kvmtest.Open(t)
}

// withoutWarnings drops gonest's host warning lines ("gonest: warning:
// ..."), which a slow or non-nesting host adds before the guest starts.
func withoutWarnings(stderr string) string {
	var keep []string
	for _, l := range strings.SplitAfter(stderr, "\n") {
		if l != "" && !strings.HasPrefix(l, "gonest: warning: ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

// TestGuestMessagesFile runs a tiny guest that writes two markers (its
// own and one forwarded from a level below), a line of other text and a
// verdict message: -messages gets the markers and the message, one line
// each, and nothing else.
func TestGuestMessagesFile(t *testing.T) {
	needKVM(t)
	dir := t.TempDir()
	verdict, err := guestabi.EncodeMessage(guestabi.VerdictMessage(guestabi.Fail))
	require.NoError(t, err)
	var a tinyelf.Asm
	a.MovDX(boot.MarkerPort).MovAL(uint8(guestabi.MarkerInitStarted)).OutB().
		MovAL(guestabi.ForwardMarker(uint8(guestabi.MarkerScenarioEnd))).OutB()
	a.Print(boot.MessagePort, "not a message\n"+string(verdict)).Exit(boot.ExitPort, 1).Hlt()
	file := filepath.Join(dir, "messages")
	r := runGuest(t, dir, "msgs.elf", &a, "-messages", file)
	assert.Equal(t, 1, r.code, "stderr: %s", r.stderr)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	require.Len(t, lines, 3, "%s", data)
	var got []guestabi.Message
	for _, l := range lines {
		m, err := guestabi.ParseMessage([]byte(l))
		require.NoError(t, err, l)
		got = append(got, m)
	}
	init := guestabi.MarkerMessage(guestabi.MarkerInitStarted)
	end := guestabi.MarkerMessage(guestabi.MarkerScenarioEnd)
	end.Depth = 1
	want := []guestabi.Message{init, end, guestabi.VerdictMessage(guestabi.Fail)}
	for i := range want {
		want[i].V = guestabi.MessageVersion
	}
	assert.Equal(t, want, got)
}

func TestGuestExitCodeAndConsole(t *testing.T) {
	needKVM(t)
	dir := t.TempDir()
	for _, code := range []byte{0, 1, 42, 255} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			msg := fmt.Sprintf("guest says %d\r\n\tand bye\n", code)
			var a tinyelf.Asm
			a.Print(boot.COM1Port, msg).Exit(boot.ExitPort, code).Hlt()
			k := tinyKernel(t, dir, fmt.Sprintf("exit%d.elf", code), a.Bytes())
			r := runBinary(t, dir, guestLimit, "run", "-kernel", k)
			assert.Equal(t, int(code), r.code, "stderr: %s", r.stderr)
			assert.Equal(t, msg, r.stdout, "console bytes arrive exactly, on stdout")
			assert.Empty(t, withoutWarnings(r.stderr), "an exit-port run is silent on stderr")
		})
	}
}

func TestGuestTimeout(t *testing.T) {
	var a tinyelf.Asm
	a.Print(boot.COM1Port, "spinning\n").Spin()
	r := runGuest(t, t.TempDir(), "spin.elf", &a, "-timeout", "500ms")
	assert.Equal(t, 124, r.code, "stderr: %s", r.stderr)
	assert.Equal(t, "spinning\n", r.stdout)
	msg := withoutWarnings(r.stderr)
	oneLineOn(t, msg)
	assert.Contains(t, msg, "-timeout 500ms")
	assert.Less(t, r.elapsed, 20*time.Second, "the timeout stops a spinning guest promptly")
}

func TestGuestTripleFault(t *testing.T) {
	var a tinyelf.Asm
	a.Print(boot.COM1Port, "about to fault\n").Ud2()
	r := runGuest(t, t.TempDir(), "ud2.elf", &a)
	assert.Equal(t, 1, r.code, "stderr: %s", r.stderr)
	assert.Equal(t, "about to fault\n", r.stdout)
	assert.Contains(t, r.stderr, "SHUTDOWN")
	assert.Contains(t, r.stderr, "rip=")
	for _, reg := range []string{"rax=", "rsp=", "rflags=", "cr0=", "cr3=", "efer=", "cs =", "gdt="} {
		assert.Contains(t, r.stderr, reg, "the register dump shows %s", reg)
	}
	assertNoCrash(t, r.stderr)
}

// statsGuest writes the POST port n times, then exits 42.
func statsGuest(t *testing.T, dir string, n int) string {
	var a tinyelf.Asm
	a.MovDX(boot.POSTPort)
	for i := 0; i < n; i++ {
		a.OutB()
	}
	a.Exit(boot.ExitPort, 42).Hlt()
	return tinyKernel(t, dir, "stats.elf", a.Bytes())
}

func TestGuestStats(t *testing.T) {
	needKVM(t)
	dir := t.TempDir()
	k := statsGuest(t, dir, 5)
	r := runBinary(t, dir, guestLimit, "run", "-kernel", k, "-stats")
	assert.Equal(t, 42, r.code, "stderr: %s", r.stderr)
	for _, h := range []string{
		"== gonest statistics: exit device (exit 42)",
		"-- userspace exits by reason",
		"-- userspace exits by device",
		"-- KVM in-kernel counters (KVM_GET_STATS_FD)",
		"-- boot timeline (ms since VMM start)",
		"-- memory",
	} {
		assert.Contains(t, r.stderr, h+"\n")
	}
	assert.Regexp(t, regexp.MustCompile(`(?m)^pio\s+0x80\+0x1\s+post \(0x80\)\s+5$`), r.stderr, "the device table counts the 5 OUTs")
	assert.Regexp(t, regexp.MustCompile(`(?m)^\s*[6-9]\s+KVM_EXIT_IO$`), r.stderr, "6 or more IO exits: 5 OUTs and the exit port")
	assert.Regexp(t, regexp.MustCompile(`(?m)^\s*\d+\s+total$`), r.stderr)
}

func TestGuestStatsJSON(t *testing.T) {
	needKVM(t)
	dir := t.TempDir()
	k := statsGuest(t, dir, 5)
	out := filepath.Join(dir, "stats.json")
	r := runBinary(t, dir, guestLimit, "run", "-kernel", k, "-stats-json", out)
	assert.Equal(t, 42, r.code, "stderr: %s", r.stderr)
	assert.Empty(t, withoutWarnings(r.stderr), "-stats-json FILE prints nothing")
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	var doc map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &doc), "valid JSON")
	for _, key := range []string{"outcome", "exits", "devices", "kvm", "timeline", "memory"} {
		assert.Contains(t, doc, key)
	}
	var s struct {
		Outcome string `json:"outcome"`
		Devices []struct {
			Bus      string `json:"bus"`
			Name     string `json:"name"`
			Base     uint64 `json:"base"`
			Accesses uint64 `json:"accesses"`
		} `json:"devices"`
		Timeline []struct {
			Event string  `json:"event"`
			Ms    float64 `json:"ms"`
		} `json:"timeline"`
	}
	require.NoError(t, json.Unmarshal(b, &s))
	assert.Equal(t, "exit device (exit 42)", s.Outcome)
	found := false
	for _, d := range s.Devices {
		if d.Bus == "pio" && d.Base == boot.POSTPort {
			found = true
			assert.Equal(t, uint64(5), d.Accesses)
		}
	}
	assert.True(t, found, "the POST port is listed")
	assert.NotEmpty(t, s.Timeline)

	// "-" writes the same document to stderr.
	r = runBinary(t, dir, guestLimit, "run", "-kernel", k, "-stats-json", "-")
	assert.Equal(t, 42, r.code)
	doc = nil
	require.NoError(t, json.Unmarshal([]byte(withoutWarnings(r.stderr)), &doc), "stderr holds only the JSON")
	assert.Contains(t, doc, "outcome")
}

func TestGuestNestedState(t *testing.T) {
	sys := kvmtest.Open(t)
	size, err := sys.CheckExtension(kvm.CapNestedState)
	require.NoError(t, err)
	dir := t.TempDir()
	var a tinyelf.Asm
	a.Exit(boot.ExitPort, 0).Hlt()
	k := tinyKernel(t, dir, "exit0.elf", a.Bytes())
	r := runBinary(t, dir, guestLimit, "run", "-kernel", k, "-nested-state")
	assert.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	if size == 0 {
		assert.Contains(t, r.stderr, "nested state vcpu 0: unavailable: ")
		assert.Contains(t, r.stderr, "KVM_CAP_NESTED_STATE is 0")
	} else {
		assert.Regexp(t, `nested state vcpu 0: format=(VMX|SVM) `, r.stderr)
	}
}

// TestGuestWithDisk: a run with disks attached exits cleanly and leaves a
// disk the guest never wrote unchanged.
func TestGuestWithDisk(t *testing.T) {
	needKVM(t)
	dir := t.TempDir()
	disk := make([]byte, 1<<20)
	copy(disk, "a disk the guest never touches")
	writeFile(t, dir, "rw.img", disk)
	writeFile(t, dir, "ro.img", disk)
	var a tinyelf.Asm
	a.Print(boot.COM1Port, "ok\n").Exit(boot.ExitPort, 7).Hlt()
	k := tinyKernel(t, dir, "k.elf", a.Bytes())
	before := snapshot(t, dir)
	r := runBinary(t, dir, guestLimit, "run", "-kernel", k, "-disk", "rw.img", "-disk", "ro.img,ro,serial=gonest-ro")
	assert.Equal(t, 7, r.code, "stderr: %s", r.stderr)
	assert.Equal(t, "ok\n", r.stdout)
	assert.Empty(t, withoutWarnings(r.stderr))
	after := snapshot(t, dir)
	// Contents are unchanged; a flush may touch rw.img's mtime, nothing else.
	for name, sum := range before {
		assert.Equal(t, strings.Fields(sum)[0], strings.Fields(after[name])[0], "%s content", name)
	}
	assert.Equal(t, len(before), len(after), "no file appeared")
}
