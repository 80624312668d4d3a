package tools

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeMatrixTools writes fake make and go commands into dir. make images
// writes IMG_OUT/kernel.release (linux-<version>-<flavour>), or fails like
// build.sh for KERNEL_VERSION=9.9. go build -o PATH writes a fake
// gonest-lab at PATH that answers like the real one: pass, the tiny
// guest's code for l2-tiny, and no verdict (125) on cloud image sets, as
// before the guests could report without /dev/port.
func fakeMatrixTools(t *testing.T, dir string) (makeCmd, goCmd string) {
	t.Helper()
	lab := `#!/bin/sh
while [ $# -gt 0 ]; do case $1 in -images) images=$2; shift ;; -scenario) scenario=$2; shift ;; esac; shift; done
case $images in *cloud*)
	echo "[H] init: WARN no port access"
	echo "gonest-lab: lab $scenario: QEMU exited with status 0 and no verdict: the guest powered off"
	exit 125 ;;
esac
case $scenario in l2-tiny) echo "gonest-lab: scenario l2-tiny: verdict verdict(37) in 1.0s ()"; exit 37 ;; esac
echo "gonest-lab: scenario $scenario: verdict pass in 1.0s ()"
`
	makeCmd = filepath.Join(dir, "make")
	require.NoError(t, os.WriteFile(makeCmd, []byte(`#!/bin/sh
for a; do case $a in IMG_OUT=*) out=${a#IMG_OUT=} ;; KERNEL_VERSION=*) v=${a#KERNEL_VERSION=} ;; KERNEL_FLAVOUR=*) f=${a#KERNEL_FLAVOUR=} ;; esac; done
if [ "$v" = 9.9 ]; then echo "images: KERNEL_VERSION=9.9 matches no Debian kernel package of flavour $f; versions: 6.1 (6.1.0-57)" >&2; exit 2; fi
mkdir -p "$out" && echo "linux-$v-$f" >"$out/kernel.release"
`), 0o755))
	goCmd = filepath.Join(dir, "go")
	require.NoError(t, os.WriteFile(goCmd, []byte(`#!/bin/sh
while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done
cat >"$out" <<'EOF'
`+lab+`EOF
chmod +x "$out"
`), 0o755))
	return makeCmd, goCmd
}

// runMatrix runs tools/kernel-matrix.sh on kernels with the fakes and
// returns its output, exit code and the table it wrote.
func runMatrix(t *testing.T, kernels string, env ...string) (string, int, string) {
	t.Helper()
	dir := t.TempDir()
	makeCmd, goCmd := fakeMatrixTools(t, dir)
	images := filepath.Join(dir, "images")
	cmd := exec.Command("bash", "kernel-matrix.sh")
	cmd.Env = append(os.Environ(), "KERNELS="+kernels, "MAKE="+makeCmd, "GO="+goCmd, "IMAGES_DIR="+images)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	code := exitCode(t, err)
	table, err := os.ReadFile(filepath.Join(images, "out", "matrix", "table.txt"))
	require.NoError(t, err, "output:\n%s", out)
	return string(out), code, string(table)
}

// tableRows returns the table's rows as their fields, wall time left out
// (it is measured), the header and total skipped.
func tableRows(table string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(table), "\n")[1:] {
		fields := strings.Fields(line)
		if fields[0] == "total" {
			continue
		}
		rows = append(rows, fields[:len(fields)-1])
	}
	return rows
}

func TestKernelMatrixAllPass(t *testing.T) {
	out, code, table := runMatrix(t, "6.1:default 6.12:default", "LABS=amd")
	require.Equal(t, 0, code, out)
	assert.Equal(t, [][]string{
		{"linux-6.1-default", "default", "-", "images", "built"},
		{"linux-6.1-default", "default", "amd", "kvmtests", "pass"},
		{"linux-6.1-default", "default", "amd", "linux", "pass"},
		{"linux-6.1-default", "default", "amd", "l2-tiny", "pass", "(code", "37)"},
		{"linux-6.12-default", "default", "-", "images", "built"},
		{"linux-6.12-default", "default", "amd", "kvmtests", "pass"},
		{"linux-6.12-default", "default", "amd", "linux", "pass"},
		{"linux-6.12-default", "default", "amd", "l2-tiny", "pass", "(code", "37)"},
	}, tableRows(table))
	assert.Regexp(t, `(?m)^kernel +flavour +lab +scenario +verdict +wall$`, table)
	assert.Regexp(t, `(?m)^total +\d+s$`, table)
	assert.Contains(t, out, table, "the table is printed")
}

// By default both labs run: each kernel's images include the Intel lab's
// (make intel-images), and l2-tiny runs in both.
func TestKernelMatrixIntelLab(t *testing.T) {
	out, code, table := runMatrix(t, "6.12:default", "SCENARIOS=^l2-tiny$")
	require.Equal(t, 0, code, out)
	assert.Equal(t, [][]string{
		{"linux-6.12-default", "default", "-", "images", "built"},
		{"linux-6.12-default", "default", "amd", "l2-tiny", "pass", "(code", "37)"},
		{"linux-6.12-default", "default", "intel", "l2-tiny", "pass", "(code", "37)"},
	}, tableRows(table))
	assert.Contains(t, out, "make images intel-images IMG_OUT=")
}

// Failing rows say what failed in the table, their log tails follow it,
// and the exit status is 1; a kernel whose images fail runs no scenario.
func TestKernelMatrixFailures(t *testing.T) {
	out, code, table := runMatrix(t, "6.12:cloud 9.9:default", "LABS=amd")
	assert.Equal(t, 1, code)
	assert.Equal(t, [][]string{
		{"linux-6.12-cloud", "cloud", "-", "images", "built"},
		{"linux-6.12-cloud", "cloud", "amd", "kvmtests", "FAIL:", "no", "verdict"},
		{"linux-6.12-cloud", "cloud", "amd", "linux", "FAIL:", "no", "verdict"},
		{"linux-6.12-cloud", "cloud", "amd", "l2-tiny", "FAIL:", "no", "verdict"},
		{"9.9", "default", "-", "images", "FAIL:", "images:", "KERNEL_VERSION=9.9", "matches", "no", "Debian", "kernel",
			"package", "of", "flavour", "default;", "versions:", "6.1", "(6.1.0-57)"},
	}, tableRows(table))
	assert.Contains(t, out, "== linux-6.12-cloud cloud amd kvmtests: FAIL: no verdict; last lines of ")
	assert.Contains(t, out, "[H] init: WARN no port access")
}

// A guest verdict other than the one expected is named in the table.
func TestKernelMatrixWrongVerdict(t *testing.T) {
	dir := t.TempDir()
	makeCmd, _ := fakeMatrixTools(t, dir)
	goCmd := filepath.Join(dir, "go-fail")
	require.NoError(t, os.WriteFile(goCmd, []byte(`#!/bin/sh
while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done
printf '#!/bin/sh\necho "gonest-lab: scenario x: verdict fail in 2.0s ()"\nexit 1\n' >"$out"
chmod +x "$out"
`), 0o755))
	images := filepath.Join(dir, "images")
	cmd := exec.Command("bash", "kernel-matrix.sh")
	cmd.Env = append(os.Environ(), "KERNELS=6.1:default", "MAKE="+makeCmd, "GO="+goCmd, "IMAGES_DIR="+images, "SCENARIOS=^kvmtests$")
	out, err := cmd.CombinedOutput()
	assert.Equal(t, 1, exitCode(t, err), "%s", out)
	table, err := os.ReadFile(filepath.Join(images, "out", "matrix", "table.txt"))
	require.NoError(t, err)
	assert.Equal(t, [][]string{
		{"linux-6.1-default", "default", "-", "images", "built"},
		{"linux-6.1-default", "default", "amd", "kvmtests", "FAIL:", "verdict", "fail"},
	}, tableRows(string(table)))
}
