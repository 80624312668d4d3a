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
	"github.com/gonest/gonest/scenario"
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

// TestIntelLabAnatomy runs the exit-multiplication experiment (scenario
// anatomy) with H under Bochs: L0 is kvm_intel, and G1's KVM runs each
// loop as G2 through vmcs12. It checks what TestLabAnatomy checks
// (assertAnatomy), and the vmcs12 that the live reading in guest mode
// decoded. Each loop runs gonest.anatomy.n=100 iterations, half the AMD
// lab's: Bochs emulates every instruction, and the spin loop still lasts
// the 0.8 s of H's time the readings need (52 million iterations at
// lab.DefaultBochsIPS).
func TestIntelLabAnatomy(t *testing.T) {
	start := time.Now()
	res, log := runIntelLab(t, lab.BochsConfig{Scenario: "anatomy", Timeout: 14 * time.Minute,
		Append: "gonest.timeout=13m " + scenario.ParamAnatomyN + "=100"}, true)
	t.Logf("TestIntelLabAnatomy took %.0fs", time.Since(start).Seconds())
	assertAnatomy(t, res, log, "VMX")
}

// VMX controls and exception vectors assertVMCS12 expects of G1's
// kvm_intel (Intel SDM vol. 3C, 25.6.1, 25.6.2, 25.6.3; the names of
// arch/x86/include/asm/vmx.h).
const (
	pinExtIntExiting = 1 << 0
	pinNMIExiting    = 1 << 3
	procHLTExiting   = 1 << 7
	procTSCOffset    = 1 << 3
	procUncondIO     = 1 << 24
	procSecondary    = 1 << 31
	proc2EPT         = 1 << 1
	vecDB, vecUD     = 1, 6
	vecPF, vecMC     = 14, 18
	vecAC            = 17
)

// assertVMCS12 checks the vmcs12 that H's live reading found while G1
// ran G2 against what G1's kvm_intel (Linux 6.1) sets up for its guest:
//   - pin-based: external-interrupt and NMI exiting, which
//     setup_vmcs_config requires (arch/x86/kvm/vmx/vmx.c);
//   - primary: HLT exiting, unconditional I/O exiting and TSC offsetting,
//     required there and kept by vmx_exec_control, and the secondary
//     controls with EPT on (G1 sees EPT: doctor's vmx.ept);
//   - exception bitmap: #DB, #UD, #AC and #MC, and no #PF with EPT
//     (vmx_update_exception_bitmap);
//   - EPTP: a page-aligned root, write-back, a 4-level walk
//     (construct_eptp; SDM vol. 3C, 25.6.11);
//   - a VMXON region, page-aligned and apart from vmcs12, and vmcs12
//     launched with KVM's revision.
func assertVMCS12(t *testing.T, st map[string]float64) {
	t.Helper()
	assert.Equal(t, 1.0, st[scenario.StateVMX], "the reading in guest mode is in VMX format")
	u := func(k string) uint64 {
		v, ok := st[k]
		assert.True(t, ok, "the summary has %s", k)
		return uint64(v)
	}
	vmxon, vmcs12 := u(scenario.StateVMXON), u(scenario.StateAddress)
	assert.NotZero(t, vmxon, "G1 did VMXON")
	assert.Zero(t, vmxon&0xfff, "the VMXON region is page-aligned: %#x", vmxon)
	assert.NotEqual(t, vmxon, vmcs12, "VMXON region and vmcs12 are different pages")
	assert.Equal(t, uint64(kvm.VMCS12Revision), u(scenario.StateVMCS12Revision))
	assert.Equal(t, uint64(1), u(scenario.StateLaunched), "G1 launched vmcs12 before it resumed G2")

	pin, proc, proc2 := u(scenario.StatePinBased), u(scenario.StateProcBased), u(scenario.StateProcBased2)
	assert.Equal(t, uint64(pinExtIntExiting|pinNMIExiting), pin&(pinExtIntExiting|pinNMIExiting), "pin-based %#x", pin)
	want := uint64(procHLTExiting | procTSCOffset | procUncondIO | procSecondary)
	assert.Equal(t, want, proc&want, "primary controls %#x", proc)
	assert.Equal(t, uint64(proc2EPT), proc2&proc2EPT, "secondary controls %#x: EPT", proc2)

	eb := u(scenario.StateExceptionBitmap)
	wantEB := uint64(1<<vecDB | 1<<vecUD | 1<<vecAC | 1<<vecMC)
	assert.Equal(t, wantEB, eb&wantEB, "exception bitmap %#x", eb)
	assert.Zero(t, eb&(1<<vecPF), "with EPT, G1 leaves G2's page faults alone: %#x", eb)

	eptp := u(scenario.StateEPTP)
	assert.NotZero(t, eptp&^0xfff, "EPTP %#x: a root", eptp)
	assert.Equal(t, uint64(6), eptp&7, "EPTP %#x: write-back", eptp)
	assert.Equal(t, uint64(3), eptp>>3&7, "EPTP %#x: a 4-level walk", eptp)
}
