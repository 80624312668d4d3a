package lab_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/lab"
	"github.com/stretchr/testify/assert"
)

// TestLabLinuxBoot proves gonest boots Linux, in one boot of G1:
// H's init (scenario linux) runs gonest doctor, which must say H's KVM can
// nest, then `gonest run -smp 2 -m 512M -stats -stats-json ...` on Debian's
// kernel and G1's initramfs. G1 (scenario g1-checks) runs gonest doctor
// too, checks it sees 2 processors, prints its wall clock (H: within 60 s
// of its own), reads 64 KiB of random bytes H writes into gonest's stdin
// and prints their SHA-256 (H compares), prints 1024 known lines (H checks
// every one, in order), then powers off: gonest must exit 0 with the
// outcome "poweroff". Each check fails H's verdict; the test passes on the
// verdict alone. About 90 s here.
func TestLabLinuxBoot(t *testing.T) {
	start := time.Now()
	res, log := runLab(t, lab.Config{Scenario: "linux", Timeout: 7 * time.Minute, Append: "gonest.timeout=6m"})
	t.Logf("TestLabLinuxBoot took %.0fs", time.Since(start).Seconds())
	assert.Equal(t, guestabi.Pass, res.Verdict, "a check failed; the reasons (G1's tail is at the end of the log):\n%s",
		strings.Join(regexp.MustCompile(`(?m)^\[H\] (\[G1\] )?init: ERROR .*$`).FindAllString(log, -1), "\n"))
	// gonest doctor lists the KVM module parameters that decide what a
	// nested exit costs, at both levels (doctor/params.go).
	params := map[string][]string{"kvm_amd": {"nrips", "vls", "vgif", "avic"},
		"kvm_intel": {"ept", "vpid", "enable_shadow_vmcs", "enable_apicv"}}
	for _, level := range []string{`\[H\]`, `\[H\] \[G1\]`} {
		m := regexp.MustCompile(`(?m)^` + level + ` nested speed: (kvm_amd|kvm_intel) parameters of this machine's KVM`).FindStringSubmatch(log)
		if !assert.NotNil(t, m, "doctor's parameters at %s", level) {
			continue
		}
		for _, p := range params[m[1]] {
			assert.Regexp(t, `(?m)^`+level+` +(slows +)?`+p+`=\S+: `, log, "doctor's %s line at %s", p, level)
		}
	}
	// G1's markers come up through H's gonest -forward.
	for _, m := range []guestabi.Marker{guestabi.MarkerInitStarted, guestabi.MarkerScenarioEnd} {
		at, ok := res.MarkAt(1, m)
		assert.True(t, ok, "G1's marker %q did not reach the lab", m)
		t.Logf("G1 %q at %.1fs", m, at.Seconds())
	}
}

// enteredByPVH is G1's init reporting (from /sys/kernel/boot_params) that
// Linux started at its PVH entry: type_of_loader 0xb0, which Linux sets
// itself only on that path.
var enteredByPVH = regexp.MustCompile(`(?m)^\[H\] \[G1\] init: level booted level=G1 entered_by="PVH \(`)

// TestLabBootVmlinuxPVH boots G1 from Debian's uncompressed vmlinux (an
// ELF with a PVH note) instead of the bzImage: H runs `gonest run -kernel
// /images/next/vmlinux -initrd ...`, G1 reaches its init, says it was
// entered through PVH, and passes.
func TestLabBootVmlinuxPVH(t *testing.T) {
	res, log := runLab(t, lab.Config{Scenario: "nested", Timeout: 4 * time.Minute,
		Append: "gonest.next=boot " + guestabi.ParamKernel + "=vmlinux gonest.timeout=3m"})
	logTimeline(t, res, 2)
	assert.Equal(t, guestabi.Pass, res.Verdict, "G1 did not boot from the vmlinux%s", res.TailsText())
	assert.Contains(t, log, "-kernel "+guestabi.NextVmlinux+" ", "H's gonest was not given the vmlinux")
	assert.Regexp(t, enteredByPVH, log, "G1 does not report a PVH entry")
	assertMarkers(t, res, 1, levelMarkers...)
}
