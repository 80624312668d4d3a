package lab_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/lab"
	"github.com/gonest/gonest/lab/labtest"
	"github.com/gonest/gonest/scenario"
	"github.com/gonest/gonest/vmexec/labexec"
)

// execLabRun, when set, narrows the exec tests run in H (a -test.run
// pattern); all of them by default.
const execLabRun = "GONEST_EXEC_LAB_RUN"

// TestLabExec runs gonest exec in H, the lab's host with real SVM KVM:
// exit codes, 64 MiB of stdio, the host's files, another user, go test
// -exec on a user's package (pass, then fail on purpose), gonest's own KVM
// tests through go test -exec, Ctrl-C on a terminal, and two levels (G1
// runs gonest exec for G2). The tests themselves are package
// vmexec/labexec's, run in H by the exec scenario; H gets its test
// binary, the Go toolchain, a warm build cache, this repository and a copy
// of the user's package over virtio-fs (lab.Share), at the same paths as
// here.
// Afterwards the file the guest's go test wrote must be in that copy,
// here.
func TestLabExec(t *testing.T) {
	labtest.Images(t) // skip (or fail under GONEST_REQUIRE_LAB) before building anything
	repo, err := filepath.Abs("..")
	require.NoError(t, err)
	goroot := goEnvValue(t, "GOROOT")
	modcache := goEnvValue(t, "GOMODCACHE")
	userCache, err := os.UserCacheDir()
	require.NoError(t, err)
	gocache := filepath.Join(userCache, "gonest", "lab-gocache")
	require.NoError(t, os.MkdirAll(gocache, 0o755))

	labDir := t.TempDir()
	// H checks a share's permissions itself (virtio-fs mounts with
	// default_permissions), and TestLabExecOtherUser's user runs the test
	// binary from this directory; t.TempDir's are root's, mode 0700.
	require.NoError(t, os.Chmod(labDir, 0o755))
	bin := filepath.Join(labDir, "labexec.test")
	goRun(t, repo, nil, "test", "-c", "-o", bin, "./vmexec/labexec")
	work := filepath.Join(t.TempDir(), "execpkg")
	copyDir(t, filepath.Join(repo, "vmexec/labexec/testdata/execpkg"), work)

	// The go command in H finds everything it compiles in this cache: only
	// the test binaries are linked there (about 1 s each here, far more on
	// H's emulated CPU). The environment is the one H's tests use.
	env := []string{"GOCACHE=" + gocache, "GOFLAGS=-mod=readonly", "GOTOOLCHAIN=local", "GOENV=off", "CGO_ENABLED=0", "GOTELEMETRY=off"}
	kvmTests := []string{"./kvm"}
	start := time.Now()
	goRun(t, work, env, "test", "-count=1", "-exec", "/bin/true", ".")
	goRun(t, repo, env, append([]string{"test", "-count=1", "-short", "-exec", "/bin/true"}, kvmTests...)...)
	t.Logf("build cache %s warmed in %.1fs", gocache, time.Since(start).Seconds())

	cfg := labexec.Config{Gonest: guestabi.GonestBinary, GoRoot: goroot, GoCache: gocache, ModCache: modcache,
		Repo: repo, Work: work, KVMTests: kvmTests}
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	cfgFile := filepath.Join(labDir, "lab.json")
	require.NoError(t, os.WriteFile(cfgFile, b, 0o644))

	shares := []lab.Share{
		{Dir: labDir, Tag: "lab", ReadOnly: true},
		{Dir: work, Tag: "work"},
		{Dir: goroot, Tag: "goroot", ReadOnly: true},
		{Dir: gocache, Tag: "gocache"},
		{Dir: modcache, Tag: "modcache", ReadOnly: true},
		{Dir: repo, Tag: "repo", ReadOnly: true},
	}
	var mounts []string
	for _, s := range shares {
		m := s.Tag + ":" + s.Dir
		if s.ReadOnly {
			m += ":ro"
		}
		mounts = append(mounts, m)
	}
	appendArgs := []string{
		scenario.ParamExecMounts + "=" + strings.Join(mounts, ","),
		scenario.ParamExecTest + "=" + bin,
		scenario.ParamExecConfig + "=" + cfgFile,
		guestabi.ParamTimeout + "=27m",
	}
	if run := os.Getenv(execLabRun); run != "" {
		appendArgs = append(appendArgs, guestabi.ParamTestRun+"="+run)
	}
	res, log := runLab(t, lab.Config{Scenario: "exec", Shares: shares, Timeout: 30 * time.Minute,
		Append: strings.Join(appendArgs, " ")})
	assert.Equal(t, guestabi.Pass, res.Verdict, "an exec test failed inside H (output above):\n%s",
		strings.Join(regexp.MustCompile(`(?m)^\[H\] init: ERROR failed test .*$`).FindAllString(log, -1), "\n"))
	if os.Getenv(execLabRun) == "" {
		got, err := os.ReadFile(filepath.Join(work, labexec.WrittenFile))
		require.NoError(t, err, "the package's test, run in the exec guest by go test in H, wrote into its directory here")
		assert.Equal(t, labexec.WrittenText, string(got))
	}
}

// goRun runs the go command in dir with more environment.
func goRun(t *testing.T, dir string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0"), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go %s:\n%s", strings.Join(args, " "), out)
}

func goEnvValue(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	require.NoError(t, err)
	v := strings.TrimSpace(string(out))
	require.NotEmpty(t, v, "go env %s", name)
	return v
}

// copyDir copies the regular files of src (one level) into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dst, 0o755))
	ents, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644))
	}
}
