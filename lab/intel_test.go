package lab_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/lab"
	"github.com/gonest/gonest/lab/labtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Intel lab tests boot H under Bochs, whose CPU model emulates VMX,
// so H loads kvm_intel: the VMX half of what the AMD lab shows with SVM.
// Bochs emulates every instruction; H alone takes minutes to boot. They
// need `make intel-images`; `make test-intel` builds the images, installs
// Bochs and runs them with GONEST_REQUIRE_LAB=1.

// runIntelLab runs cfg's scenario in H under Bochs, streaming the console
// when -v is given, and returns the result and the full console log.
func runIntelLab(t *testing.T, cfg lab.BochsConfig, next bool) (lab.Result, string) {
	t.Helper()
	img := labtest.IntelImages(t)
	cfg.Kernel, cfg.Initrd = img.Kernel, img.H
	if next {
		cfg.NextImages = img.HNextCPIO
	}
	var log bytes.Buffer
	cfg.Log = &log
	if testing.Verbose() {
		cfg.Log = io.MultiWriter(&log, os.Stdout)
	}
	res, err := lab.RunBochs(context.Background(), cfg)
	require.NoError(t, err, "the Intel lab run produced no verdict")
	t.Logf("scenario %s: verdict %s, Bochs ran %.1fs", cfg.Scenario, res.Verdict, res.Duration.Seconds())
	return res, log.String()
}

// kvmIntelStatus is the line gonest-init logs once kvm_intel is loaded.
var kvmIntelStatus = regexp.MustCompile(`(?m)^\[H\] init: kvm status module=kvm_intel nested=Y dev_kvm=true$`)

// TestIntelLabKVMTests runs gonest's KVM test binaries (kvm, vcpu,
// machine) on real VMX KVM: kvm_intel in H.
func TestIntelLabKVMTests(t *testing.T) {
	res, log := runIntelLab(t, lab.BochsConfig{Scenario: "kvmtests", Timeout: 50 * time.Minute,
		Append: "gonest.timeout=40m"}, false)
	assert.Equal(t, guestabi.Pass, res.Verdict, "a test binary failed inside H (output above):\n%s",
		strings.Join(regexp.MustCompile(`(?m)^\[H\] init: ERROR failed test .*$`).FindAllString(log, -1), "\n"))
	assert.True(t, kvmIntelStatus.MatchString(log), "H must log that kvm_intel loaded with nested=Y and /dev/kvm exists")
}

// TestIntelLabNestedTiny: H boots G1 with VMX exposed, G1 loads kvm_intel
// with nested=1 and boots a tiny ELF G2 that exits with gonest.code; the
// code comes back through G1's gonest, G1's init, H's gonest and H's init.
func TestIntelLabNestedTiny(t *testing.T) {
	const code = 37 // not the default (42): the parameter must reach G1
	res, log := runIntelLab(t, lab.BochsConfig{Scenario: "l2-tiny", Timeout: 30 * time.Minute,
		Append: "gonest.code=37"}, true)
	assert.Equal(t, guestabi.Verdict(code), res.Verdict, "the tiny G2's exit code, through every level")
	assert.True(t, kvmIntelStatus.MatchString(log), "H loads kvm_intel")
	assert.Regexp(t, `(?m)^\[H\] \[G1\] init: kvm status module=kvm_intel nested=Y dev_kvm=true$`, log,
		"G1 sees VMX and loads kvm_intel with nested=1")
}

// TestIntelLabDoctor: gonest doctor in H decodes the VMX that H's
// kvm_intel offers G1, next to the VMX of Bochs's CPU model itself.
func TestIntelLabDoctor(t *testing.T) {
	res, log := runIntelLab(t, lab.BochsConfig{Scenario: "doctor", Timeout: 20 * time.Minute}, false)
	assert.Equal(t, guestabi.Pass, res.Verdict, "doctor in H says H's guests can nest")
	for _, want := range []string{
		`(?m)^\[H\]   ok +vmx_msrs +VMCS rev 0x11e57ed0, EPT, VPID, unrestricted guest, shadow VMCS; secondary controls: `,
		`(?m)^\[H\]   ok +nested_state +KVM_CAP_NESTED_STATE=8320: `,
		`(?m)^\[H\]   ok +host_virt +the host CPU's own VMX .*\bept\b.*\bunrestricted_guest\b`,
	} {
		assert.Regexp(t, want, log)
	}
}
