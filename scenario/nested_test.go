package scenario

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
)

func TestInheritedParams(t *testing.T) {
	params := map[string]string{
		"console": "ttyS0", "quiet": "",
		guestabi.ParamScenario: "l2-tiny", guestabi.ParamLevel: "H", guestabi.ParamNext: "boot", guestabi.ParamTimeout: "5m",
		guestabi.ParamKernel: "vmlinux", guestabi.ParamMarkers: guestabi.MarkersAsMessages,
		guestabi.ParamCode: "7", guestabi.ParamTestRun: "TestA|TestB", "gonest.note": "two words",
	}
	assert.Equal(t, map[string]string{guestabi.ParamCode: "7", guestabi.ParamTestRun: "TestA|TestB", "gonest.note": "two words"},
		inheritedParams(params))
	assert.Empty(t, inheritedParams(map[string]string{guestabi.ParamLevel: "G1"}))
}

// TestChildSpec: how each chain boots the next level.
func TestChildSpec(t *testing.T) {
	env, _ := testEnv("H")
	env.Params = map[string]string{guestabi.ParamCode: "9", guestabi.ParamLevel: "H"}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	nextDisk := []launch.Disk{{Path: guestabi.NextDisk, ReadOnly: true}}
	tests := []struct {
		name    string
		c       child
		disk    bool
		memory  uint64
		disks   []launch.Disk
		cmdline string
	}{
		{"tiny", child{scenario: "tiny-guest"}, false, 384 << 20, nil,
			"gonest.scenario=tiny-guest gonest.level=G1 gonest.timeout=1m20s gonest.code=9 quiet"},
		{"linux chain", child{scenario: "kvmtests+nested", next: "boot", statsJSON: true, params: map[string]string{"gonest.stats": "1"}},
			true, 1 << 30, nextDisk,
			"gonest.scenario=kvmtests+nested gonest.level=G1 gonest.timeout=1m20s gonest.code=9 gonest.next=boot gonest.stats=1 quiet"},
		{"off", child{scenario: "tiny-guest", nested: "off"}, true, 384 << 20, nextDisk,
			"gonest.scenario=tiny-guest gonest.level=G1 gonest.timeout=1m20s gonest.code=9 quiet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.c.spec(ctx, env, tt.disk)
			assert.Equal(t, tt.memory, s.Memory)
			assert.Equal(t, tt.disks, s.Disks)
			assert.Equal(t, tt.c.nested, s.Nested)
			assert.Equal(t, tt.c.statsJSON, s.StatsJSON)
			assert.Equal(t, tt.c.statsJSON, s.NestedState)
			assert.Equal(t, guestabi.NextKernel, s.Kernel)
			// Budgets from a 100 s deadline may have lost a second already.
			assert.Contains(t, []string{tt.cmdline, replaceTimeout(tt.cmdline)}, s.GuestCmdline())
		})
	}
}

// replaceTimeout is cmdline with the guest's budget one second shorter.
func replaceTimeout(cmdline string) string {
	return strings.Replace(cmdline, "gonest.timeout=1m20s", "gonest.timeout=1m19s", 1)
}

// TestChildSpecVmlinux: gonest.kernel=vmlinux boots the next level from
// the uncompressed ELF, and is not passed further down.
func TestChildSpecVmlinux(t *testing.T) {
	env, _ := testEnv("H")
	env.Params = map[string]string{guestabi.ParamKernel: "vmlinux", guestabi.ParamLevel: "H"}
	s := child{scenario: "boot"}.spec(context.Background(), env, true)
	assert.Equal(t, guestabi.NextVmlinux, s.Kernel)
	assert.Equal(t, "gonest.scenario=boot gonest.level=G1 quiet", s.GuestCmdline())
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
	code, err := tinyGuest(42, "G2")
	require.NoError(t, err)
	// mov dx, 0xf8; mov al, 1; out dx, al: the first marker.
	assert.Equal(t, []byte{0x66, 0xba, 0xf8, 0x00, 0xb0, byte(guestabi.MarkerInitStarted), 0xee}, code[:7])
	// "mov dx, PORT", then "mov al, c; out dx, al" per byte.
	printed := func(rest []byte, port uint16) (string, []byte) {
		require.Equal(t, []byte{0x66, 0xba, byte(port), byte(port >> 8)}, rest[:4])
		rest = rest[4:]
		var out []byte
		for len(rest) >= 3 && rest[0] == 0xb0 && rest[2] == 0xee {
			out = append(out, rest[1])
			rest = rest[3:]
		}
		return string(out), rest
	}
	greeting, rest := printed(code[7:], 0x3f8)
	assert.Equal(t, tinyGreeting(42)+"\n", greeting)
	// The "scenario end" marker.
	assert.Equal(t, []byte{0x66, 0xba, 0xf8, 0x00, 0xb0, byte(guestabi.MarkerScenarioEnd), 0xee}, rest[:7])
	line, rest := printed(rest[7:], guestabi.MessagePort)
	m, err := guestabi.ParseMessage([]byte(line))
	require.NoError(t, err)
	assert.Equal(t, guestabi.Verdict(42), m.Verdict.Code)
	assert.Equal(t, "G2", m.Level)
	// mov dx, 0xf4; mov al, 42; out dx, al; hlt.
	assert.Equal(t, []byte{0x66, 0xba, 0xf4, 0x00, 0xb0, 42, 0xee, 0xf4}, rest)
}

func TestNestedRuns(t *testing.T) {
	// stats has one window: complete or not, with KVM's counters or the
	// reason there are none, and their change on each vCPU.
	stats := func(complete, available bool, reason string, vcpus ...map[string]int64) *launch.Stats {
		w := launch.Window{Complete: complete}
		w.KVM.Available, w.KVM.Reason, w.KVM.VCPUs = available, reason, vcpus
		s := &launch.Stats{Windows: []launch.Window{w}}
		// G1's whole life counts the KVM tests' VMRUNs too: never read.
		s.KVM.Available, s.KVM.VCPUs = true, []map[string]uint64{{"nested_run": 5000}}
		return s
	}
	tests := []struct {
		name    string
		stats   *launch.Stats
		want    uint64
		wantErr string
	}{
		{"summed over vCPUs", stats(true, true, "", map[string]int64{"nested_run": 3, "exits": 9}, map[string]int64{"nested_run": 4}), 7, ""},
		{"none while G2 ran", stats(true, true, "", map[string]int64{"exits": 1}), 0, ""},
		{"window still open at the end", stats(false, true, "", map[string]int64{"nested_run": 3}), 0, "no complete window"},
		{"no window", &launch.Stats{}, 0, "G2's init markers did not reach H"},
		{"unavailable", stats(true, false, "unavailable: old kernel"), 0, "old kernel"},
		{"no statistics", nil, 0, "gonest wrote no statistics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := nestedRuns(tt.stats)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestNeedNextLevelWithoutImages(t *testing.T) {
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skipf("no /dev/kvm here (%v): needNextLevel would try to load a KVM module", err)
	}
	if _, err := os.Stat(guestabi.NextKernel); err == nil {
		t.Skipf("%s exists here: this is a gonest level with its images mounted", guestabi.NextKernel)
	}
	env, console := testEnv("H")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no waiting for a disk that will not come
	v, ok := NeedNextLevel(ctx, env)
	assert.False(t, ok)
	assert.Equal(t, guestabi.SetupError, v)
	assert.Contains(t, console.String(), "the next level's images are missing")
}
