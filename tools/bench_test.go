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

// diskRows are two rows as the bench-disk scenario prints them.
const diskRows = `disk bus in G2, G2 read MB/s: IDE 0.12 (min 0.10, max 0.20), virtio-blk 44.00 (min 30.00, max 50.00), ratio 0.00273 (median of 5 reads of 4 MiB per bus; per run 0.0025 0.004 0.00273 0.00367 0.00289)
disk bus in G2, H exits per MiB (H's KVM, for G1's vCPU): IDE 60500 (min 59000, max 62000), virtio-blk 200 (min 190, max 210), ratio 302 (median of 5 reads of 4 MiB per bus; per run 300 290 302 310 305)
`

// execRows are bench-exec's rows, as scenario/bench/exec.go prints them.
const execRows = `exec /bin/true, wall time (gonest exec vs QEMU microvm + 9p root, same kernel and init): gonest 10.16 s (min 9.79, max 14.63), QEMU 23.15 s (min 17.09, max 27.54), ratio 0.44 (median of 3; per run 0.57 0.63 0.37)
exec metadata, find + stat of 2,000 files (virtio-fs vs 9p): gonest 2963 entries/s (min 1646, max 3592), QEMU 47 entries/s (min 39, max 67), ratio 62.56 (median of 3; per run 53.71 41.89 62.56)
`

// runBenchDisk runs tools/bench.sh disk with a fake go that prints
// diskRows, on a results file that holds before; it returns the output,
// the exit code and the file after.
func runBenchDisk(t *testing.T, before string, args ...string) (string, int, string) {
	t.Helper()
	return runBench(t, "bench-disk", diskRows, before, nil, args...)
}

// runBench runs tools/bench.sh with a fake go whose gonest-bench prints
// rows for scenario and fails for any other, with env added.
func runBench(t *testing.T, scenario, rows, before string, env []string, args ...string) (string, int, string) {
	t.Helper()
	dir := t.TempDir()
	goCmd := filepath.Join(dir, "go")
	require.NoError(t, os.WriteFile(goCmd, []byte("#!/bin/sh\ncase \"$*\" in *'-scenario "+scenario+"'*) cat <<'EOF'\n"+rows+"EOF\n;; version) echo 'go version go1.0 linux/amd64' ;; *) exit 3 ;; esac\n"), 0o755))
	out := filepath.Join(dir, "results.md")
	if before != "" {
		require.NoError(t, os.WriteFile(out, []byte(before), 0o644))
	}
	cmd := exec.Command("bash", append([]string{"bench.sh"}, args...)...)
	cmd.Env = append(append(os.Environ(), "GO="+goCmd, "BENCH_OUT="+out, "IMAGES="+dir, "BENCH_RUNS=5"), env...)
	output, err := cmd.CombinedOutput()
	code := exitCode(t, err)
	after, _ := os.ReadFile(out)
	return string(output), code, string(after)
}

func TestBenchDiskReplacesItsSection(t *testing.T) {
	top := "# gonest benchmarks\n\n| benchmark | ratio |\n|---|---|\n| lab G1 boot | 0.58 |\n\n"
	anatomy := "## Exit multiplication (lab, nested SVM)\n\nits figures\n"
	out, code, after := runBenchDisk(t, top+"## Disk bus in G2\n\nold figures\n\n"+anatomy, "disk")
	require.Equal(t, 0, code, out)
	assert.True(t, strings.HasPrefix(after, top+anatomy+"\n## Disk bus in G2\n"), "the other sections are kept, this one goes last:\n%s", after)
	assert.NotContains(t, after, "old figures")
	assert.Equal(t, 1, strings.Count(after, "## Disk bus in G2"))
	assert.Contains(t, after, "Measured by `make bench-disk` on ")
	assert.Contains(t, after, "| G2 read MB/s | 0.12 (0.10 – 0.20) | 44.00 (30.00 – 50.00) | 0.00273 | 0.0025 – 0.004 |")
	assert.Contains(t, after, "| H exits per MiB (H's KVM, for G1's vCPU) | 60500 (59000 – 62000) | 200 (190 – 210) | 302 | 290 – 310 |")
	assert.Contains(t, after, "    "+strings.SplitN(diskRows, "\n", 2)[0], "the raw rows")
}

func TestBenchDiskAppendsItsSection(t *testing.T) {
	top := "# gonest benchmarks\n\nRaw rows:\n\n    a row"
	out, code, after := runBenchDisk(t, top+"\n", "disk")
	require.Equal(t, 0, code, out)
	assert.True(t, strings.HasPrefix(after, top+"\n\n## Disk bus in G2\n"), "one blank line between:\n%s", after)
}

func TestBenchDiskNewFile(t *testing.T) {
	out, code, after := runBenchDisk(t, "", "disk")
	require.Equal(t, 0, code, out)
	assert.True(t, strings.HasPrefix(after, "## Disk bus in G2\n"), after)
}

// TestBenchExecSizes: a run at the default sizes and one at the user's
// full sizes each replace only their own section.
func TestBenchExecSizes(t *testing.T) {
	def := "## gonest exec against QEMU microvm with 9p (lab)"
	full := def + ", 10000 files, 256 MiB"
	before := "# gonest benchmarks\n\n" + def + "\n\nold default figures\n\n" + full + "\n\nold full figures\n\n### Reading\n\nnotes\n"
	out, code, after := runBench(t, "bench-exec", execRows, before, nil, "exec")
	require.Equal(t, 0, code, out)
	assert.NotContains(t, after, "old default figures")
	assert.Contains(t, after, full+"\n\nold full figures\n\n### Reading\n\nnotes\n", "the full sizes' section, and its notes, stay")
	assert.Contains(t, after, "| exec metadata, find + stat of 2,000 files (virtio-fs vs 9p) | 62.56 | 41.89 – 62.56 | ≥ 2.0 | yes |")
	assert.Contains(t, after, "The tree and the read are smaller than a user's")

	out, code, after = runBench(t, "bench-exec", execRows, before, []string{"EXEC_BENCH_RUNS=1", "EXEC_BENCH_FILES=10000", "EXEC_BENCH_MIB=256"}, "exec")
	require.Equal(t, 0, code, out)
	assert.Contains(t, after, def+"\n\nold default figures\n", "the defaults' section stays")
	assert.NotContains(t, after, "old full figures")
	assert.Equal(t, 1, strings.Count(after, full+"\n"))
	assert.NotContains(t, after, "The tree and the read are smaller than a user's")
}

func TestBenchBadMode(t *testing.T) {
	out, code, _ := runBenchDisk(t, "", "disks")
	assert.Equal(t, 2, code)
	assert.Equal(t, "usage: tools/bench.sh [disk|anatomy|exec]\n", out)
}

// TestBenchTableSkipsOtherSectionsRows: the top table passes over the rows
// other sections show (disk bus, exit anatomy), under set -e and
// pipefail, whatever their shape.
func TestBenchTableSkipsOtherSectionsRows(t *testing.T) {
	rows := filepath.Join(t.TempDir(), "rows")
	require.NoError(t, os.WriteFile(rows, []byte(strings.Split(diskRows, "\n")[0]+"\n"+
		"exit anatomy | pio | n 100 | g2 exits 101\n"+
		"port-I/O exit cost (this host, 140000 exits): gonest 20676 ns/exit, C 22027 ns/exit, ratio 0.8930 (median of 7 interleaved rounds; min 0.7871, max 1.447)\n"), 0o644))
	script := `set -euo pipefail; eval "$(sed -n '/^table() {/,/^}/p' bench.sh)"; rows=$1; table`
	out, err := exec.Command("bash", "-c", script, "bash", rows).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, "| benchmark | ratio (median) | per-run min – max | goal | met |\n|---|---|---|---|---|\n"+
		"| port-I/O exit cost (this host, 140000 exits) | 0.8930 | 0.7871 – 1.447 | ≤ 1.15 | yes |\n", string(out))
}
