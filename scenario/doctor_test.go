package scenario

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/guest/report"
	"github.com/gonest/gonest/guestabi"
)

// fakeDoctor writes a script that plays `gonest doctor -json`: it prints
// out and exits with code.
func fakeDoctor(t *testing.T, out string, code int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gonest")
	script := "#!/bin/sh\n[ \"$1 $2\" = \"doctor -json\" ] || exit 99\ncat <<'EOF'\n" + out + "\nEOF\nexit " + string(rune('0'+code)) + "\n"
	require.NoError(t, os.WriteFile(p, []byte(script), 0o755))
	return p
}

// intelReport is doctor -json's shape, cut to what the scenario reads.
const intelReport = `{"verdict": "nested virtualization available: kvm_intel with nested=Y offers VMX (EPT, VPID, unrestricted guest, shadow VMCS)",
 "can_nest": true, "backend": "kvm_intel", "nested_state_size": 8320,
 "checks": [{"name": "vmx_msrs", "status": "ok", "evidence": "VMCS rev 0x11e57ed0, EPT"}],
 "vmx": {"vmcs_revision": 300252880, "true_controls": true, "ept": true, "vpid": true, "unrestricted_guest": true,
         "shadow_vmcs": true, "pinbased": ["ExternalInterruptExiting", "PreemptionTimer"], "misc": {"preemption_timer_rate": 5}}}`

func TestDoctorReportsAsText(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		code    int
		want    int
		console []string
		result  map[string]float64
	}{
		{"can nest", intelReport, 0, 0,
			[]string{"verdict: nested virtualization available: kvm_intel", "  ok           vmx_msrs         VMCS rev 0x11e57ed0, EPT",
				"init: gonest doctor done level=H exit=0 can_nest=true"},
			map[string]float64{"can_nest": 1, "nested_state_size": 8320, "vmx.vmcs_revision": 0x11e57ed0, "vmx.true_controls": 1,
				"vmx.ept": 1, "vmx.vpid": 1, "vmx.unrestricted_guest": 1, "vmx.shadow_vmcs": 1, "vmx.preemption_timer": 1,
				"vmx.preemption_timer_rate": 5}},
		{"cannot nest", `{"verdict": "nested virtualization is NOT possible here", "can_nest": false}`, 1, 1,
			[]string{"verdict: nested virtualization is NOT possible here"}, map[string]float64{"can_nest": 0, "nested_state_size": 0}},
		{"no report", "gonest: something broke", 2, -1,
			[]string{"init: ERROR gonest doctor -json printed no report"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, console := testEnv("H")
			ports := report.NewLoopback(nil)
			env.Report = report.New("H", ports, slog.New(slog.DiscardHandler))
			assert.Equal(t, tt.want, doctorAt(context.Background(), env, fakeDoctor(t, tt.out, tt.code)))
			for _, l := range tt.console {
				assert.Contains(t, console.String(), l)
			}
			var got []guestabi.Message
			for _, m := range ports.Messages() {
				if m.Type == guestabi.MsgResult {
					got = append(got, m)
				}
			}
			if tt.result == nil {
				assert.Empty(t, got, "no report, no result")
				return
			}
			require.Len(t, got, 1)
			assert.Equal(t, guestabi.ResultDoctor, got[0].Result.Name)
			assert.True(t, strings.HasPrefix(got[0].Result.Text, "nested virtualization"), got[0].Result.Text)
			assert.Equal(t, tt.result, got[0].Result.Metrics)
		})
	}
}

func TestLimitedBuffer(t *testing.T) {
	var b bytes.Buffer
	l := &limitedBuffer{b: &b, max: 5}
	for _, w := range []string{"abc", "defgh", "x"} {
		n, err := l.Write([]byte(w))
		require.NoError(t, err)
		assert.Equal(t, len(w), n, "the writer never sees a short write")
	}
	assert.Equal(t, "abcde", b.String())
}
