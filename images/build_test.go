// Package images holds the images pipeline (images.mk, build.sh) and its
// Go tools; this test checks build.sh's answers when the Debian mirror or a
// package is missing, with fake apt commands, without network or root.
package images

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeBin writes executable shell scripts into a fresh directory.
func fakeBin(t *testing.T, scripts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range scripts {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755))
	}
	return dir
}

// runKernelStep runs `build.sh kernel OUT MKIMAGE kvm_amd` with the fake
// commands first on PATH and a fake mkimage, and returns its exit code,
// its stderr lines and OUT.
func runKernelStep(t *testing.T, bin string) (int, []string, string) {
	t.Helper()
	mkimage := filepath.Join(t.TempDir(), "mkimage")
	require.NoError(t, os.WriteFile(mkimage, []byte("#!/bin/sh\nexit 0\n"), 0o755))
	r := runKernel(t, kernelRun{bin: bin, mkimage: mkimage, modules: []string{"kvm_amd"}})
	return r.code, r.stderr, r.out
}

// kernelRun is one `build.sh kernel` run.
type kernelRun struct {
	bin     string   // directory of fake commands, first on PATH
	mkimage string   // the mkimage to use
	out     string   // OUT; a fresh directory if empty
	env     []string // more environment (KERNEL_VERSION=...)
	modules []string // the wanted modules
}

type kernelResult struct {
	code   int
	stderr []string
	stdout []string
	out    string
}

func runKernel(t *testing.T, kr kernelRun) kernelResult {
	t.Helper()
	if kr.out == "" {
		kr.out = t.TempDir()
	}
	// The pipeline's own variables start empty, whatever make exported.
	env := append([]string{"PATH=" + kr.bin + ":" + os.Getenv("PATH"), "KERNEL=", "APT_UPDATE=0",
		"KERNEL_VERSION=", "KERNEL_FLAVOUR=", "KERNEL_META=", "KERNEL_CACHE="}, kr.env...)
	r := runBuildStep(t, env, append([]string{"kernel", kr.out, kr.mkimage}, kr.modules...)...)
	r.out = kr.out
	return r
}

// runBuildStep runs `build.sh ARGS...` with env added to this process's
// environment, and returns how it ended.
func runBuildStep(t *testing.T, env []string, args ...string) kernelResult {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"build.sh"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return kernelResult{code: code,
		stderr: strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n"),
		stdout: strings.Split(strings.TrimRight(stdout.String(), "\n"), "\n")}
}

// As root on a machine whose apt lists are empty, build.sh runs apt-get
// update; a mirror that cannot be reached ends it with one line that says
// so and what to run.
func TestKernelStepUnreachableMirror(t *testing.T) {
	bin := fakeBin(t, map[string]string{
		"id":        `echo 0`,
		"apt-cache": `exit 100`,
		"apt-get":   `echo "E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease" >&2; exit 100`,
	})
	code, lines, _ := runKernelStep(t, bin)
	assert.Equal(t, 1, code)
	assert.Equal(t, "images: apt-get update failed: is the Debian mirror reachable? Retry with: apt-get update", lines[len(lines)-1])
}

// Not root, with empty lists: the one line says which command to run.
func TestKernelStepEmptyListsNotRoot(t *testing.T) {
	bin := fakeBin(t, map[string]string{"id": `echo 1000`, "apt-cache": `exit 100`, "apt-get": `exit 100`})
	code, lines, _ := runKernelStep(t, bin)
	assert.Equal(t, 1, code)
	assert.Equal(t, []string{"images: the apt package lists are empty; run: sudo apt-get update"}, lines)
}

// The lists know no kernel behind linux-image-amd64: the line names the
// package and the command that shows why.
func TestKernelStepMissingPackage(t *testing.T) {
	bin := fakeBin(t, map[string]string{
		"id":        `echo 0`,
		"apt-cache": `[ "$1" = show ] && exit 0; exit 0`, // show succeeds, depends lists nothing
		"apt-get":   `exit 100`,
	})
	code, lines, _ := runKernelStep(t, bin)
	assert.Equal(t, 1, code)
	assert.Equal(t, []string{"images: cannot resolve linux-image-amd64 to a kernel package; run: apt-get update, then: apt-cache depends linux-image-amd64"}, lines)
}

// The package resolves but cannot be downloaded: the line names the
// -unsigned package and the exact command to retry.
func TestKernelStepDownloadFails(t *testing.T) {
	bin := fakeBin(t, map[string]string{
		"id":        `echo 0`,
		"apt-cache": `[ "$1" = depends ] && echo "  Depends: linux-image-6.1.0-99-amd64"; exit 0`,
		"apt-get":   `echo "E: Can't find a source to download version of linux-image-6.1.0-99-amd64-unsigned" >&2; exit 100`,
	})
	code, lines, out := runKernelStep(t, bin)
	assert.Equal(t, 1, code)
	assert.Equal(t, "images: apt-get download linux-image-6.1.0-99-amd64-unsigned failed; check the Debian mirror, then run: cd "+
		out+"/cache && apt-get download linux-image-6.1.0-99-amd64-unsigned", lines[len(lines)-1])
	assert.NoFileExists(t, filepath.Join(out, "kernel.stamp"), "a failed download leaves no stamp")
}

// runBochsTools runs `build.sh bochs-tools` against an empty fake root, so
// every package is missing, with the fake commands first on PATH.
func runBochsTools(t *testing.T, bin string) (int, []string) {
	t.Helper()
	r := runBuildStep(t, []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "BOCHS_TOOLS_ROOT=" + t.TempDir(), "APT_UPDATE=0"},
		"bochs-tools")
	return r.code, r.stderr
}

func TestBochsToolsNotRootNamesPackagesAndCommand(t *testing.T) {
	code, lines := runBochsTools(t, fakeBin(t, map[string]string{"id": `echo 1000`}))
	assert.Equal(t, 1, code)
	require.Len(t, lines, 1, "one line")
	for _, pkg := range []string{"bochs", "bochsbios", "vgabios", "isolinux", "syslinux-common", "genisoimage"} {
		assert.Contains(t, lines[0], " "+pkg)
	}
	assert.Contains(t, lines[0], "images: the Intel lab needs ")
	assert.Contains(t, lines[0], "; run: sudo apt-get update && sudo apt-get install -y ")
}

func TestBochsToolsInstallFailure(t *testing.T) {
	code, lines := runBochsTools(t, fakeBin(t, map[string]string{
		"id":        `echo 0`,
		"apt-cache": `exit 0`,
		"apt-get":   `echo "E: Unable to locate package bochs" >&2; exit 100`,
	}))
	assert.Equal(t, 1, code)
	last := lines[len(lines)-1]
	assert.True(t, strings.HasPrefix(last, "images: apt-get install "), last)
	assert.Contains(t, last, "failed; run it by hand to see why: apt-get install -y ")
}
