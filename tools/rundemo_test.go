// Package tools holds the scripts behind make targets; its tests check
// their decisions with fake commands, without KVM or the lab.
package tools

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeCommand writes an executable script at dir/name that appends its
// arguments, one per line, to dir/name.args, prints out, and exits with
// code for the subcommand "doctor" (and 0 otherwise).
func fakeCommand(t *testing.T, dir, name, out string, doctorCode int) string {
	t.Helper()
	path := filepath.Join(dir, name)
	script := "#!/bin/sh\n" +
		"for a in \"$@\"; do printf '%s\\n' \"$a\"; done >> '" + path + ".args'\n" +
		"if [ \"$1\" = doctor ]; then printf '%s\\n' '" + out + "'; exit " + strconv.Itoa(doctorCode) + "; fi\n" +
		"exit 0\n"
	require.NoError(t, os.WriteFile(path, []byte(script), 0o755))
	return path
}

// runDemo runs tools/run-demo.sh with stdin and stdout not terminals (the
// CI path), fake gonest and go commands, and an image folder that has
// g1-next.ext4 when withNext. It returns the combined output, the exit
// code, and the arguments each fake received.
func runDemo(t *testing.T, doctorCode int, withNext bool) (string, int, []string, []string) {
	t.Helper()
	dir := t.TempDir()
	img := filepath.Join(dir, "out")
	require.NoError(t, os.MkdirAll(img, 0o755))
	if withNext {
		require.NoError(t, os.WriteFile(filepath.Join(img, "g1-next.ext4"), nil, 0o644))
	}
	verdict := "verdict: nested virtualization available: kvm_amd with nested=1 offers SVM (NPT)"
	if doctorCode != 0 {
		verdict = "verdict: nested virtualization is NOT possible here: /dev/kvm is kvm_pvm (software), which offers no SVM or VMX to guests; run the nested demo in the lab: make run (or make lab)"
	}
	gonest := fakeCommand(t, dir, "gonest", verdict, doctorCode)
	goCmd := fakeCommand(t, dir, "go", "", 0)

	cmd := exec.Command("bash", "run-demo.sh")
	cmd.Env = append(os.Environ(), "IMG_OUT="+img, "GONEST="+gonest, "GO="+goCmd, "RUN_MINUTES=15")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	code := exitCode(t, err)
	return string(out), code, readArgs(t, gonest+".args"), readArgs(t, goCmd+".args")
}

// exitCode is a finished command's exit status; an error other than a
// non-zero exit fails the test.
func exitCode(t *testing.T, err error) int {
	t.Helper()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	require.NoError(t, err)
	return 0
}

func readArgs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// A host whose KVM can nest boots G1 right here, with G2's images on
// G1's read-only disk, a time limit, and the scenario that types l2.
func TestRunDemoNestsDirectlyWhenDoctorSaysSo(t *testing.T) {
	out, code, gonestArgs, goArgs := runDemo(t, 0, true)
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "make run: gonest doctor: nested virtualization available: kvm_amd with nested=1 offers SVM (NPT); booting G1 with gonest on this host")
	require.Len(t, gonestArgs, 14)
	assert.Equal(t, []string{
		"doctor",
		"run", "-kernel", gonestArgs[3], "-initrd", gonestArgs[5], "-m", "1G",
		"-disk", gonestArgs[9],
		"-timeout", "15m", "-append", "gonest.scenario=l2-demo gonest.level=G1",
	}, gonestArgs)
	assert.True(t, strings.HasSuffix(gonestArgs[3], "/out/vmlinuz"), gonestArgs[3])
	assert.True(t, strings.HasSuffix(gonestArgs[5], "/out/g1.cpio.gz"), gonestArgs[5])
	assert.True(t, strings.HasSuffix(gonestArgs[9], "/out/g1-next.ext4,ro"), gonestArgs[9])
	assert.Nil(t, goArgs, "the lab must not start")
}

// Without g1-next.ext4 (G2's images inside G1's initramfs), no disk.
func TestRunDemoDirectWithoutNextDisk(t *testing.T) {
	out, code, gonestArgs, _ := runDemo(t, 0, false)
	require.Equal(t, 0, code, out)
	assert.NotContains(t, gonestArgs, "-disk")
}

// A host that cannot nest says why in one line, without the doctor's
// own advice (this is that advice), and runs the demo in the lab.
func TestRunDemoFallsBackToTheLab(t *testing.T) {
	out, code, gonestArgs, goArgs := runDemo(t, 1, true)
	require.Equal(t, 0, code, out)
	assert.Equal(t, []string{"doctor"}, gonestArgs, "gonest must not boot G1 here")
	assert.Equal(t, "make run: gonest doctor: nested virtualization is NOT possible here: /dev/kvm is kvm_pvm (software), which offers no SVM or VMX to guests -- so the demo runs in the lab: QEMU (TCG, SVM) boots H, H's gonest boots G1\n", out)
	require.GreaterOrEqual(t, len(goArgs), 6)
	assert.Equal(t, []string{"run", "./lab/cmd/gonest-lab", "-images"}, goArgs[:3])
	assert.Equal(t, []string{"-scenario", "demo", "-timeout", "15m", "-append", "gonest.demo=auto gonest.timeout=13m"}, goArgs[4:])
}

// A doctor that fails (neither verdict) stops make run with its report and
// its exit code.
func TestRunDemoDoctorFailure(t *testing.T) {
	out, code, gonestArgs, goArgs := runDemo(t, 3, true)
	assert.Equal(t, 3, code, out)
	assert.Contains(t, out, "make run: gonest doctor failed (exit 3); see above")
	assert.Equal(t, []string{"doctor"}, gonestArgs)
	assert.Nil(t, goArgs)
}
