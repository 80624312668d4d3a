package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/syncbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeExt4 returns the first 4 KiB of a device holding an ext4 file
// system labelled label (magic false: some other contents).
func fakeExt4(label string, magic bool) []byte {
	b := make([]byte, 4096)
	if magic {
		binary.LittleEndian.PutUint16(b[superblockOffset+sbMagicOffset:], sbMagic)
	}
	copy(b[superblockOffset+sbLabelOffset:superblockOffset+sbLabelOffset+sbLabelSize], label)
	return b
}

func TestExt4Label(t *testing.T) {
	tests := []struct {
		name      string
		data      []byte
		wantLabel string
		wantOK    bool
	}{
		{"labelled", fakeExt4("gonest-next", true), "gonest-next", true},
		{"full 16 bytes", fakeExt4("0123456789abcdef", true), "0123456789abcdef", true},
		{"no label", fakeExt4("", true), "", true},
		{"not ext", fakeExt4("gonest-next", false), "", false},
		{"too short", make([]byte, 1100), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			label, ok := ext4Label(bytes.NewReader(tt.data))
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.wantLabel, label)
		})
	}
}

func TestFindLabelledDisk(t *testing.T) {
	sys, dev := t.TempDir(), t.TempDir()
	disks := map[string][]byte{
		"vda": fakeExt4("gonest", true), // another test disk
		"vdb": make([]byte, 512),        // too small, not ext4
		"vdc": fakeExt4(guestabi.NextLabel, true),
	}
	for name, data := range disks {
		require.NoError(t, os.Mkdir(filepath.Join(sys, name), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dev, name), data, 0o644))
	}
	require.NoError(t, os.Mkdir(filepath.Join(sys, "vdd"), 0o755)) // no device node: skipped
	require.NoError(t, os.Mkdir(filepath.Join(sys, "sda"), 0o755)) // not virtio-blk: ignored
	require.NoError(t, os.WriteFile(filepath.Join(dev, "sda"), fakeExt4(guestabi.NextLabel, true), 0o644))

	assert.Equal(t, filepath.Join(dev, "vdc"), findLabelledDisk(sys, dev, guestabi.NextLabel))
	assert.Equal(t, filepath.Join(dev, "vda"), findLabelledDisk(sys, dev, "gonest"))
	assert.Equal(t, "", findLabelledDisk(sys, dev, "nosuch"))
}

func TestCPUVendor(t *testing.T) {
	assert.Equal(t, "AuthenticAMD", cpuVendor("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 23\n"))
	assert.Equal(t, "", cpuVendor("processor\t: 0\n"))
}

func TestNextMemoryChains(t *testing.T) {
	tests := []struct{ next, want string }{
		{"nested,boot", "1G"},
		{"kvmtests+nested,boot", "1G"},
		{"tiny-guest", "384M"},
		{"boot", "384M"},
		{"nestedx", "384M"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, nextMemory(tt.next), tt.next)
	}
}

func TestInheritedParams(t *testing.T) {
	params := map[string]string{
		"console": "ttyS0", "quiet": "",
		guestabi.ParamScenario: "l2-tiny", guestabi.ParamLevel: "H", ParamNext: "boot", guestabi.ParamTimeout: "5m",
		guestabi.ParamCode: "7", guestabi.ParamTestRun: "TestA|TestB", "gonest.note": "two words",
	}
	assert.Equal(t, []string{`gonest.code=7`, `gonest.note="two words"`, `gonest.testrun=TestA|TestB`}, inheritedParams(params))
	assert.Empty(t, inheritedParams(map[string]string{guestabi.ParamLevel: "G1"}))
}

func TestNextCmdlineInherits(t *testing.T) {
	got := nextCmdline("H", "tiny-guest", time.Minute, "gonest.code=7")
	assert.Equal(t, "quiet gonest.scenario=tiny-guest gonest.level=G1 gonest.timeout=1m0s gonest.code=7", got)
	params := parseCmdline(got)
	assert.Equal(t, "7", params[guestabi.ParamCode], "the child's init reads it back")
}

func TestChildGonestArgs(t *testing.T) {
	params := map[string]string{guestabi.ParamCode: "9", guestabi.ParamLevel: "H"}
	tests := []struct {
		name string
		c    child
		disk bool
		want string
	}{
		{"tiny", child{scenario: "tiny-guest"}, false,
			"run -m 384M -kernel /images/next/vmlinuz -initrd /images/next/initrd -forward -timeout 1m30s" +
				" -append quiet gonest.scenario=tiny-guest gonest.level=G1 gonest.timeout=1m20s gonest.code=9"},
		{"off", child{scenario: "tiny-guest", nested: "off"}, true,
			"run -m 384M -kernel /images/next/vmlinuz -initrd /images/next/initrd -forward" +
				" -disk /images/next/next.ext4,ro -nested off -timeout 1m30s" +
				" -append quiet gonest.scenario=tiny-guest gonest.level=G1 gonest.timeout=1m20s gonest.code=9"},
		{"linux with stats", child{scenario: "kvmtests+nested", next: "boot", statsJSON: "/tmp/s.json", params: []string{"gonest.stats=1"}}, true,
			"run -m 1G -kernel /images/next/vmlinuz -initrd /images/next/initrd -forward" +
				" -disk /images/next/next.ext4,ro -stats -stats-json /tmp/s.json -nested-state -timeout 1m30s" +
				" -append quiet gonest.scenario=kvmtests+nested gonest.level=G1 gonest.next=boot gonest.timeout=1m20s gonest.code=9 gonest.stats=1"},
		{"stats table only", child{scenario: "boot", stats: true}, false,
			"run -m 384M -kernel /images/next/vmlinuz -initrd /images/next/initrd -forward -stats -timeout 1m30s" +
				" -append quiet gonest.scenario=boot gonest.level=G1 gonest.timeout=1m20s gonest.code=9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.c.gonestArgs("H", params, tt.disk, 80*time.Second, 90*time.Second)
			// -append's value is one argument.
			assert.Equal(t, "-append", got[len(got)-2])
			assert.Equal(t, tt.want, strings.Join(got, " "))
		})
	}
}

// gonest.kernel=vmlinux boots the next level from the uncompressed ELF,
// and is not passed further down.
func TestChildGonestArgsVmlinux(t *testing.T) {
	params := map[string]string{guestabi.ParamKernel: "vmlinux", guestabi.ParamLevel: "H"}
	got := strings.Join(child{scenario: "boot"}.gonestArgs("H", params, true, 0, 0), " ")
	assert.Equal(t, "run -m 384M -kernel /images/next/vmlinux -initrd /images/next/initrd -forward"+
		" -disk /images/next/next.ext4,ro -append quiet gonest.scenario=boot gonest.level=G1", got)
}

func TestTinyCode(t *testing.T) {
	tests := []struct {
		in      string
		want    uint8
		wantErr bool
	}{
		{"", defaultTinyCode, false},
		{"0", 0, false},
		{"42", 42, false},
		{"127", 127, false},
		{"128", 0, true},
		{"-1", 0, true},
		{"x", 0, true},
		{"300", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := tinyCode(tt.in)
			if tt.wantErr {
				assert.ErrorContains(t, err, "from 0 to 127")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestTinyGuestCode(t *testing.T) {
	code := tinyGuest(42)
	// mov dx, 0xf8; mov al, 1; out dx, al: the first marker.
	assert.Equal(t, []byte{0x66, 0xba, 0xf8, 0x00, 0xb0, byte(guestabi.MarkerInitStarted), 0xee}, code[:7])
	// mov dx, 0x3f8, then "mov al, c; out dx, al" per greeting byte.
	rest := code[7:]
	require.Equal(t, []byte{0x66, 0xba, 0xf8, 0x03}, rest[:4])
	rest = rest[4:]
	var printed []byte
	for len(rest) >= 3 && rest[0] == 0xb0 && rest[2] == 0xee {
		printed = append(printed, rest[1])
		rest = rest[3:]
	}
	assert.Equal(t, tinyGreeting(42)+"\n", string(printed))
	// The "scenario end" marker, then mov dx, 0xf4; mov al, 42; out dx, al; hlt.
	assert.Equal(t, []byte{0x66, 0xba, 0xf8, 0x00, 0xb0, byte(guestabi.MarkerScenarioEnd), 0xee,
		0x66, 0xba, 0xf4, 0x00, 0xb0, 42, 0xee, 0xf4}, rest)
}

// exitErrFor returns the error exec gives for a process that exited with code.
func exitErrFor(t *testing.T, code int) error {
	t.Helper()
	err := exec.Command("sh", "-c", "exit "+strconv.Itoa(code)).Run()
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "sh exit %d: %v", code, err)
	return err
}

func TestTinyVerdict(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		greeted bool
		want    guestabi.Verdict
		why     string
	}{
		{"code comes back", exitErrFor(t, 42), true, 42, "the guest's code"},
		{"code 0", nil, true, guestabi.Pass, "the guest's code"},
		{"no greeting", exitErrFor(t, 42), false, guestabi.Fail, "greeting never arrived"},
		{"other code passed on", exitErrFor(t, 2), true, guestabi.SetupError, "not the guest's code 42"},
		{"timeout", exitErrFor(t, 124), true, 124, "status 124"},
		{"too big for a verdict", exitErrFor(t, 143), true, guestabi.Fail, "no verdict can carry"},
		{"not started", errors.New("exec: no such file"), false, guestabi.Fail, "did not exit normally"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := uint8(42)
			if tt.name == "code 0" {
				want = 0
			}
			v, why := tinyVerdict(tt.err, tt.greeted, want)
			assert.Equal(t, tt.want, v)
			assert.Contains(t, why, tt.why)
		})
	}
}

func TestRunChildExpect(t *testing.T) {
	tests := []struct {
		name     string
		script   string
		expect   guestabi.Verdict
		want     guestabi.Verdict
		wantTail bool
	}{
		{"expected code", "echo 'init: verdict code=37 verdict=verdict(37)'; exit 37", 37, 37, false},
		{"expected no kvm", "echo 'init: verdict code=5 verdict=\"no kvm\"'; exit 5", guestabi.NoKVM, guestabi.NoKVM, false},
		{"pass when another is expected", "echo 'init: verdict code=0 verdict=pass'", 37, guestabi.Pass, true},
		{"other code", "echo 'init: verdict code=1 verdict=fail'; exit 1", 37, guestabi.Fail, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var console syncbuf.Buffer
			env := &Env{Log: slog.New(newConsoleHandler(&console, "init: ")), Console: &console, Level: "H"}
			v := env.RunChildIO(context.Background(), ChildIO{Expect: tt.expect}, "sh", "-c", tt.script)
			assert.Equal(t, tt.want, v)
			assert.Equal(t, tt.wantTail, strings.Contains(console.String(), "----- last"), console.String())
			if tt.wantTail {
				assert.Contains(t, console.String(), "init: ERROR next level did not return the verdict expected level=G1")
			} else {
				assert.Contains(t, console.String(), "init: next level returned the verdict expected level=G1")
			}
		})
	}
}

func TestNestedRuns(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    uint64
		wantErr string
	}{
		{"summed over vCPUs", `{"kvm":{"available":true,"vcpus":[{"nested_run":3,"exits":9},{"nested_run":4}]}}`, 7, ""},
		{"zero", `{"kvm":{"available":true,"vcpus":[{"nested_run":0}]}}`, 0, ""},
		{"no counter", `{"kvm":{"available":true,"vcpus":[{"exits":1}]}}`, 0, "no vCPU has a nested_run counter"},
		{"unavailable", `{"kvm":{"available":false,"reason":"unavailable: old kernel"}}`, 0, "old kernel"},
		{"bad json", `{"kvm":`, 0, "unexpected end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "stats.json")
			require.NoError(t, os.WriteFile(p, []byte(tt.json), 0o644))
			got, err := nestedRuns(p)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err := nestedRuns(filepath.Join(t.TempDir(), "missing.json"))
	assert.ErrorContains(t, err, "gonest statistics: open")
}

func TestBenchNestedAppend(t *testing.T) {
	got := benchNestedAppend("H", 5*time.Minute)
	assert.Equal(t, "quiet gonest.scenario=nested gonest.level=G1 gonest.next=boot gonest.timeout=5m0s", got)
}

func TestLaunchTiming(t *testing.T) {
	lt := launchTiming{g1Init: 20 * time.Second, g1Start: 25 * time.Second, g2Init: 60 * time.Second, g1End: 62 * time.Second}
	assert.Equal(t, 42*time.Second, lt.launch())
	assert.Equal(t, []any{"g1_init_to_g2_verdict", 42 * time.Second, "g1_init_to_scenario", 5 * time.Second,
		"scenario_to_g2_init", 35 * time.Second, "g2_init_to_verdict", 2 * time.Second}, lt.logAttrs())
	assert.Equal(t, "41.0 s (min 40.0, max 50.5)", secondsSpread([]float64{50.5, 40, 41}))
}

func TestParseTimeline(t *testing.T) {
	got, err := parseTimeline([]byte(`{"outcome":"x","timeline":[{"event":"vmm start","ms":0},`+
		`{"event":"guest: init started","ms":1500.5},{"event":"guest: +1 init started","ms":9000},`+
		`{"event":"guest: init started","ms":7777}]}`), "s.json")
	require.NoError(t, err)
	assert.Equal(t, map[string]float64{"vmm start": 0, "guest: init started": 1500.5, "guest: +1 init started": 9000}, got,
		"the first of a repeated event counts")
	_, err = parseTimeline([]byte(`{"timeline":`), "s.json")
	assert.ErrorContains(t, err, "gonest statistics s.json")
}

// TestMarkerClock plays QEMU's isa-debugcon: G1's markers at depth 0,
// G2's forwarded at depth 1, then EOF.
func TestMarkerClock(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "m.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	clock := newMarkerClock(time.Now())
	go clock.serve(ln)
	c, err := net.Dial("unix", sock)
	require.NoError(t, err)
	g2Init := guestabi.ForwardMarker(uint8(guestabi.MarkerInitStarted))
	_, err = c.Write([]byte{uint8(guestabi.MarkerInitStarted), g2Init, uint8(guestabi.MarkerScenarioEnd), g2Init})
	require.NoError(t, err)
	require.NoError(t, c.Close())
	marks := clock.close(ln)
	assert.Len(t, marks, 3, "a repeated marker keeps its first time")
	for _, k := range []markerKey{{0, guestabi.MarkerInitStarted}, {1, guestabi.MarkerInitStarted}, {0, guestabi.MarkerScenarioEnd}} {
		_, ok := marks[k]
		assert.True(t, ok, "%+v", k)
	}
}

func TestMountNextImagesWithoutDisk(t *testing.T) {
	if _, err := os.Stat(guestabi.NextKernel); err == nil {
		t.Skipf("%s exists here: this is a gonest level with its images mounted", guestabi.NextKernel)
	}
	var logs bytes.Buffer
	err := mountNextImages(context.Background(), slog.New(slog.NewTextHandler(&logs, nil)), 0)
	require.ErrorIs(t, err, errNoNextDisk, "this host has no disk labelled %s", guestabi.NextLabel)
	assert.Contains(t, err.Error(), `no virtio-blk disk labelled "gonest-next" within 0s: attach`)
	assert.Empty(t, logs.String())
}

func TestNeedNextLevelWithoutImages(t *testing.T) {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skipf("no /dev/kvm here (%v): needNextLevel would try to load a KVM module", err)
	}
	if _, err := os.Stat(guestabi.NextKernel); err == nil {
		t.Skipf("%s exists here: this is a gonest level with its images mounted", guestabi.NextKernel)
	}
	var console bytes.Buffer
	env := &Env{Log: slog.New(newConsoleHandler(&console, "init: ")), Console: &console}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no waiting for a disk that will not come
	v, ok := needNextLevel(ctx, env)
	assert.False(t, ok)
	assert.Equal(t, guestabi.SetupError, v)
	assert.Contains(t, console.String(), "the next level's images are missing")
}
