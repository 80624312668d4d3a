package lab_test

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/lab"
	"github.com/gonest/gonest/lab/labtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Intel lab tests boot H under Bochs, whose CPU model emulates VMX,
// so H loads kvm_intel: the VMX half of what the AMD lab shows with SVM.
// Bochs emulates every instruction; H alone takes minutes to boot, so each
// test boots H once. They need `make intel-images`; `make test-intel`
// (which CI runs after make test) builds the images, installs Bochs and
// runs them with GONEST_REQUIRE_LAB=1.

// runIntelLab runs cfg's scenario in H under Bochs, streaming the console
// when -v is given, and returns the result and the full console log.
func runIntelLab(t *testing.T, cfg lab.BochsConfig, next bool) (lab.Result, string) {
	t.Helper()
	img := labtest.IntelImages(t)
	cfg.Kernel, cfg.Initrd = img.Kernel, img.H
	if next {
		cfg.NextImages = img.HNextCPIO
	}
	res, log := logged(t, func(w io.Writer) (lab.Result, error) {
		cfg.Log = w
		return lab.RunBochs(context.Background(), cfg)
	})
	t.Logf("scenario %s: verdict %s, Bochs ran %.1fs, %.1fs of CPU", cfg.Scenario, res.Verdict, res.Duration.Seconds(), res.CPUTime.Seconds())
	return res, log
}

// kvmIntelStatus is the line gonest-init logs once kvm_intel is loaded.
var kvmIntelStatus = regexp.MustCompile(`(?m)^\[H\] init: kvm status module=kvm_intel nested=Y dev_kvm=true$`)

// TestIntelLabKVMTests runs gonest doctor, then gonest's KVM test
// binaries (kvm, vcpu, machine), in H on real VMX KVM: kvm_intel. One
// boot serves both (scenario doctor+kvmtests).
func TestIntelLabKVMTests(t *testing.T) {
	res, log := runIntelLab(t, lab.BochsConfig{Scenario: "doctor+kvmtests", Timeout: 50 * time.Minute,
		Append: "gonest.timeout=40m"}, false)
	assert.Equal(t, guestabi.Pass, res.Verdict, "doctor or a test binary failed inside H (output above):\n%s",
		strings.Join(regexp.MustCompile(`(?m)^\[H\] init: ERROR .*$`).FindAllString(log, -1), "\n"))
	assert.True(t, kvmIntelStatus.MatchString(log), "H must log that kvm_intel loaded with nested=Y and /dev/kvm exists")
	// Bochs has no marker device: H's markers come as messages.
	assertMarkers(t, res, 0, levelMarkers...)

	// What H's kvm_intel offers G1, from doctor's result message: the VMX
	// that KVM emulates for its guests, the VMCS revision its vmcs12 has,
	// and the preemption timer's emulated rate.
	doctor := res.Results(0, guestabi.ResultDoctor)
	require.Len(t, doctor, 1, "H's doctor sends one result")
	m := doctor[0].Result.Metrics
	assert.Equal(t, map[string]float64{"can_nest": 1, "nested_state_size": 8320, "vmx.vmcs_revision": kvm.VMCS12Revision,
		"vmx.true_controls": 1, "vmx.ept": 1, "vmx.vpid": 1, "vmx.unrestricted_guest": 1, "vmx.shadow_vmcs": 1,
		"vmx.preemption_timer": 1, "vmx.preemption_timer_rate": 5}, m, "doctor in H: %s", doctor[0].Result.Text)
}

// TestIntelLabNestedTiny: H boots G1 with VMX exposed, G1 loads kvm_intel
// with nested=1 and boots a tiny ELF G2 that exits with gonest.code; the
// code comes back through G1's gonest, G1's init, H's gonest and H's init,
// and every level's verdict message reaches the lab.
func TestIntelLabNestedTiny(t *testing.T) {
	const code = 37 // not the default (42): the parameter must reach G1
	res, log := runIntelLab(t, lab.BochsConfig{Scenario: "l2-tiny", Timeout: 30 * time.Minute,
		Append: fmt.Sprintf("%s=%d", guestabi.ParamCode, code)}, true)
	assert.Equal(t, guestabi.Verdict(code), res.Verdict, "the tiny G2's exit code, through every level")
	assert.True(t, kvmIntelStatus.MatchString(log), "H loads kvm_intel")
	assert.Regexp(t, `(?m)^\[H\] \[G1\] init: kvm status module=kvm_intel nested=Y dev_kvm=true$`, log,
		"G1 sees VMX and loads kvm_intel with nested=1")
	assertMarkers(t, res, 0, levelMarkers...)
	// G1's and G2's markers are bytes on H's marker port, which Bochs
	// does not have; their messages come through, each level's verdict
	// among them.
	verdicts := map[string]guestabi.Verdict{}
	for _, m := range res.Messages {
		if m.Type == guestabi.MsgVerdict {
			verdicts[fmt.Sprintf("%s@%d", m.Level, m.Depth)] = m.Verdict.Code
		}
	}
	assert.Equal(t, map[string]guestabi.Verdict{"H@0": code, "G1@1": code, "G2@2": code}, verdicts)
}
