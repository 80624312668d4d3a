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

// The lab tests boot Debian's kernel under QEMU TCG (about 10 s to init
// here) and run one gonest-init scenario each. They need `make images`;
// `make lab-test` builds the images and runs them with GONEST_REQUIRE_LAB=1.
//
// To add one for a new scenario: add the scenario to cmd/gonest-init's
// table, then a test here that calls runLab and asserts on the verdict.

// runLab runs scenario in H, streaming the console when -v is given, and
// returns the result and the full console log.
func runLab(t *testing.T, cfg lab.Config) (lab.Result, string) {
	t.Helper()
	img := labtest.Images(t)
	cfg.Kernel, cfg.Initrd = img.Kernel, img.H
	// Every run gets H's next-level images (G1's kernel and initramfs, and
	// G2's on G1's disk), mounted at guestabi.NextDir by H's init.
	cfg.NextImages = img.HNext
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute // H boots in 10 to 30 s here
	}
	res, log := logged(t, func(w io.Writer) (lab.Result, error) {
		cfg.Log = w
		return lab.Run(context.Background(), cfg)
	})
	t.Logf("scenario %s: verdict %s, QEMU ran %.1fs", cfg.Scenario, res.Verdict, res.Duration.Seconds())
	return res, log
}

// logged runs one lab run with its console going to a buffer (and to
// stdout with -v), requires a verdict, logs the markers' times and returns
// the result and the console log.
func logged(t *testing.T, run func(log io.Writer) (lab.Result, error)) (lab.Result, string) {
	t.Helper()
	var log bytes.Buffer
	var w io.Writer = &log
	if testing.Verbose() {
		w = io.MultiWriter(&log, os.Stdout)
	}
	res, err := run(w)
	require.NoError(t, err, "the lab run produced no verdict")
	for _, m := range res.Marks {
		t.Logf("marker %-20s at %6.1fs", m, m.At.Seconds())
	}
	return res, log.String()
}

// TestLabKVMTests proves gonest's KVM layer on real SVM KVM: the kvm and
// vcpu test binaries run inside H with GONEST_REQUIRE_KVM=1.
func TestLabKVMTests(t *testing.T) {
	// gonest.timeout makes a hanging test end with go test's goroutine dump
	// and a verdict, before the lab's own timeout kills QEMU.
	res, log := runLab(t, lab.Config{Scenario: "kvmtests", Timeout: 4 * time.Minute, Append: "gonest.timeout=3m"})
	assert.Equal(t, guestabi.Pass, res.Verdict, "a test binary failed inside H (output above):\n%s",
		strings.Join(regexp.MustCompile(`(?m)^\[H\] init: ERROR failed test .*$`).FindAllString(log, -1), "\n"))
	assert.True(t, regexp.MustCompile(`(?m)^\[H\] init: kvm status module=kvm_amd nested=1 dev_kvm=true$`).MatchString(log),
		"H must log that kvm_amd loaded with nested=1 and /dev/kvm exists (line \"init: kvm status ...\")")
	for _, m := range []guestabi.Marker{guestabi.MarkerInitStarted, guestabi.MarkerModulesLoaded,
		guestabi.MarkerScenarioStart, guestabi.MarkerScenarioEnd} {
		_, ok := res.Mark(m)
		assert.True(t, ok, "marker %q", m)
	}
}

// TestLabDisk reads the ext4 test disk through QEMU's virtio-blk-pci and
// Debian's virtio_blk, proving the disk image and the module set.
func TestLabDisk(t *testing.T) {
	img := labtest.Images(t)
	res, log := runLab(t, lab.Config{Scenario: "disk", Disks: []string{img.Disk}})
	assert.Equal(t, guestabi.Pass, res.Verdict)
	assert.True(t, strings.Contains(log, "init: disk read through virtio-blk device=/dev/vda"),
		"H must log that it read the check file from /dev/vda")
}

// TestLabUnknownScenarioVerdict checks the verdict path end to end with a
// verdict other than pass: init's code reaches the test through QEMU.
func TestLabUnknownScenarioVerdict(t *testing.T) {
	res, _ := runLab(t, lab.Config{Scenario: "no-such-scenario"})
	assert.Equal(t, guestabi.UnknownScenario, res.Verdict)
}
