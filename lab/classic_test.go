package lab_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/lab"
	"github.com/gonest/gonest/scenario"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The classic nested experiments (docs/nested.md): the disk bus in G2,
// several G2s in one G1, several nesting G1s in one H, and QEMU as G1's
// hypervisor.

// TestLabL2Disk: G2 reads the same MiB from an IDE disk and a virtio-blk
// disk; G1's and H's gonest count each read in a window; H reports each
// bus's exits per MiB at every level. G2 also writes and syncs files on
// a third disk through IDE and powers off; here, on the host, the image
// is clean (e2fsck -fn) and every file holds its bytes.
func TestLabL2Disk(t *testing.T) {
	dir := t.TempDir()
	rw := smallExt4(t, filepath.Join(dir, scenario.L2DiskRWSerial))
	res, log := runLab(t, lab.Config{Scenario: "l2-disk", Disks: []string{rw}, WritableDisks: true,
		Timeout: 14 * time.Minute, Append: "gonest.timeout=13m"})
	logTimeline(t, res, 3)
	require.Equal(t, guestabi.Pass, res.Verdict, "a level of l2-disk failed:\n%s%s", classicErrors(log), res.TailsText())
	for d := range 3 {
		assertMarkers(t, res, d, levelMarkers...)
	}
	if m := regexp.MustCompile(`(?m)^\[H\] l2-disk: G2 read each bus.*\n((?:\[H\] .*\n){4})`).FindStringSubmatch(log); assert.NotNil(t, m, "H prints the table") {
		t.Logf("l2-disk, H's table:\n%s", m[1])
	}
	buses := map[string]map[string]float64{}
	for _, m := range res.Messages {
		if m.Type == guestabi.MsgResult && m.Depth == 0 && m.Result.Name == scenario.ResultDiskBus {
			t.Logf("%s", m.Result.Text)
			buses[strings.SplitN(m.Result.Text, ",", 2)[0]] = m.Result.Metrics
		}
	}
	require.Len(t, buses, 2, "one result per bus")
	for _, bus := range []string{scenario.BusIDE, scenario.BusVirtio} {
		m := buses[bus]
		require.NotNil(t, m, bus)
		for _, k := range []string{scenario.MetricG2MBps, scenario.MetricG1Exits, scenario.MetricG1User,
			scenario.MetricHExits, scenario.MetricHNestedRun, scenario.MetricHReflected} {
			assert.Positive(t, m[k], "%s: %s", bus, k)
		}
	}
	// What PIO costs (devices/ide): every data word and register access
	// of G2 is an exit to G1's gonest; virtio-blk's notifications end in
	// G1's kernel (ioeventfd).
	ide, vd := buses[scenario.BusIDE], buses[scenario.BusVirtio]
	assert.Greater(t, ide[scenario.MetricG1User], 10*vd[scenario.MetricG1User], "IDE: G1's gonest handles G2's port I/O")

	out, err := e2fsck(t, "-fn", rw)
	assert.NoError(t, err, "e2fsck -fn must find the file system G2 wrote through IDE clean:\n%s", out)
	checkImageFiles(t, rw, filepath.Join(dir, "dump"), imageFiles{written: scenario.L2DiskWrittenCount, complete: true})
}

// smallExt4 makes the file system G2 writes through IDE: every 32-bit
// word G2 writes is an exit reflected into G1 (about 12 ms in the lab),
// so it has 1 KiB blocks and no journal, which keeps a sync to a dozen
// blocks, and its inode tables are written by mke2fs, not by ext4 after the
// mount.
func smallExt4(t *testing.T, path string) string {
	t.Helper()
	cmd := exec.Command(e2tool(t, "mke2fs"), "-q", "-t", "ext4", "-O", "^has_journal", "-b", "1024", "-N", "64",
		"-L", "gonest-ide", "-E", "lazy_itable_init=0,root_owner=0:0", path, "2M")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "mke2fs:\n%s", out)
	return path
}

// classicErrors picks every level's ERROR lines out of a lab log.
func classicErrors(log string) string {
	return strings.Join(regexp.MustCompile(`(?m)^\[H\] (\[\w+\] )*init: ERROR .*$`).FindAllString(log, -1), "\n")
}

// TestLabL2Many: G1, with two vCPUs, runs three G2 Linux guests at once,
// each with its own disk and console; a fourth guest triple-faults while
// the three wait. The three pass, the crasher's verdict alone is fail,
// G1's KVM lists three VMs and H's exit tracepoints show G1 entering
// three guest vCPUs.
func TestLabL2Many(t *testing.T) {
	res, log := runLab(t, lab.Config{Scenario: "l2-many", Timeout: 14 * time.Minute, Append: "gonest.timeout=13m"})
	logTimeline(t, res, 2)
	require.Equal(t, guestabi.Pass, res.Verdict, "l2-many failed:\n%s%s", classicErrors(log), res.TailsText())
	verdicts := map[string]guestabi.Verdict{}
	vms := map[string]float64{}
	for _, m := range res.Messages {
		switch {
		case m.Type == guestabi.MsgVerdict && m.Depth == 2:
			verdicts[m.Level] = m.Verdict.Code
		case m.Type == guestabi.MsgResult && m.Result.Name == scenario.ResultManyVMs:
			t.Logf("%s at depth %d: %v", m.Result.Text, m.Depth, m.Result.Metrics)
			if m.Result.Text == "H" {
				vms["H guest vCPUs"] = m.Result.Metrics["guest_vcpus"]
			} else {
				vms["G1 VMs"] = m.Result.Metrics["vms"]
			}
		}
	}
	assert.Equal(t, map[string]guestabi.Verdict{"G2a": guestabi.Pass, "G2b": guestabi.Pass, "G2c": guestabi.Pass}, verdicts,
		"each G2's own verdict reached the lab")
	assert.Equal(t, map[string]float64{"H guest vCPUs": 3, "G1 VMs": 3}, vms)
	assert.Regexp(t, `(?m)^\[H\] \[G1\] \[G2crash\] a sibling of the G2s crashes now`, log, "the crasher ran")
	assert.Regexp(t, `(?m)^\[H\] \[G1\] init: l2-many: the sibling crashed and failed alone status=1`, log)
	for _, level := range []string{"G2a", "G2b", "G2c"} {
		assert.Regexp(t, `(?m)^\[H\] \[G1\] init: l2-many: G2 passed and wrote its own disk level=`+level, log)
		assert.Regexp(t, `(?m)^\[H\] \[G1\] \[`+level+`\] init: l2-many: my disk is mine`, log, "its own console")
	}
}

// TestLabL1Many: H runs two G1s at once, each with -nested on and each
// booting its own G2 Linux. Both chains pass, H's KVM lists two VMs while
// both run and ran nested VMRUNs for each. H has one vCPU, which the two
// G1s share: with two (QEMU's multi-threaded TCG), a G1 triple-faulted
// (KVM_EXIT_SHUTDOWN in H's gonest) as its G2 finished, a fault this lab
// has not yet pinned on gonest, KVM or TCG.
func TestLabL1Many(t *testing.T) {
	res, log := runLab(t, lab.Config{Scenario: "l1-many", Memory: "3G", Timeout: 16 * time.Minute,
		Append: "gonest.timeout=15m"})
	logTimeline(t, res, 1)
	require.Equal(t, guestabi.Pass, res.Verdict, "l1-many failed:\n%s%s", classicErrors(log), res.TailsText())
	verdicts := map[string]guestabi.Verdict{}
	var vms map[string]float64
	for _, m := range res.Messages {
		switch {
		case m.Type == guestabi.MsgVerdict && m.Depth > 0:
			verdicts[fmt.Sprintf("%s@%d", m.Level, m.Depth)] = m.Verdict.Code
		case m.Type == guestabi.MsgResult && m.Result.Name == scenario.ResultL1VMs:
			vms = m.Result.Metrics
		}
	}
	assert.Equal(t, map[string]guestabi.Verdict{"G1a@1": guestabi.Pass, "G1b@1": guestabi.Pass, "G2a@2": guestabi.Pass, "G2b@2": guestabi.Pass},
		verdicts, "both chains' verdicts reached the lab")
	require.NotNil(t, vms, "H reports its VMs")
	t.Logf("H: %v", vms)
	assert.Equal(t, 2.0, vms["vms"], "H's KVM ran both G1s at once")
	for _, level := range []string{"G1a", "G1b"} {
		assert.Positive(t, vms["nested_run."+level], "H ran nested VMRUNs for %s", level)
		assert.Regexp(t, `(?m)^\[H\] \[`+level+`\] init: kvm status module=kvm_amd nested=1 dev_kvm=true$`, log, "%s loads kvm_amd with nesting", level)
	}
	for _, l := range regexp.MustCompile(`(?m)^\[H\] init: l1-many: .*$`).FindAllString(log, -1) {
		t.Log(l)
	}
}

// TestLabL2QEMU: G1, booted by gonest, runs Debian's QEMU with G1's KVM
// to boot G2. G2 finds QEMU's ACPI tables; its markers and messages come
// out of QEMU's isa-debugcon, its verdict out of isa-debug-exit, and G1
// passes them up through gonest.
func TestLabL2QEMU(t *testing.T) {
	res, log := runLab(t, lab.Config{Scenario: "l2-qemu", Timeout: 8 * time.Minute, Append: "gonest.timeout=7m"})
	logTimeline(t, res, 3)
	require.Equal(t, guestabi.Pass, res.Verdict, "l2-qemu failed:\n%s%s", classicErrors(log), res.TailsText())
	for d := range 3 {
		assertMarkers(t, res, d, levelMarkers...)
	}
	verdicts := map[string]guestabi.Verdict{}
	for _, m := range res.Messages {
		if m.Type == guestabi.MsgVerdict {
			verdicts[fmt.Sprintf("%s@%d", m.Level, m.Depth)] = m.Verdict.Code
		}
	}
	assert.Equal(t, map[string]guestabi.Verdict{"H@0": guestabi.Pass, "G1@1": guestabi.Pass, "G2@2": guestabi.Pass}, verdicts)
	assert.Regexp(t, `(?m)^\[H\] \[G1\] init: starting next level level=G2 cmd="/images/next/qemu/lib64/ld-linux-x86-64.so.2 .*/images/next/qemu/usr/bin/qemu-system-x86_64 .*-enable-kvm`, log,
		"G1 runs the next-level disk's QEMU with KVM")
	assert.Regexp(t, `(?m)^\[H\] \[G1\] \[G2\] init: l2-qemu: this level's ACPI tables oem_id=BOCHS qemu=true$`, log)
	assert.Regexp(t, `(?m)^\[H\] \[G1\] init: l2-qemu: QEMU ran G2 on G1's KVM; its verdict came back through isa-debug-exit qemu_status=1 `, log,
		"QEMU's status (0<<1)|1")
}
