package scenario

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gonest/gonest/guestabi"
)

// testTimeout bounds one test binary when the scenario has no deadline
// (gonest.timeout); `go test` prints every goroutine when it fires.
const testTimeout = 10 * time.Minute

// runKVMTests runs every `go test -c` binary in guestabi.TestsDir (kvm,
// vcpu and machine: the typed KVM layer, the run loop and the whole board
// on tiny guests) with GONEST_REQUIRE_KVM=1, so a test that cannot reach
// KVM fails instead of skipping. All must pass.
func runKVMTests(ctx context.Context, env *Env) guestabi.Verdict {
	bins, err := filepath.Glob(filepath.Join(guestabi.TestsDir, "*.test"))
	if err != nil || len(bins) == 0 {
		env.Log.Error("no test binaries in the image; build them with `make images` (LAB_TEST_PKGS)", "dir", guestabi.TestsDir)
		return guestabi.NothingToRun
	}
	sort.Strings(bins)
	if len(env.ModuleErrors) > 0 {
		env.Log.Error("KVM modules did not load; see the module errors above")
		return guestabi.SetupError
	}
	if _, err := os.Stat("/dev/kvm"); err != nil {
		env.Log.Error("no /dev/kvm at this level; the CPU needs svm or vmx and the image needs the kvm modules", "err", err)
		return guestabi.SetupError
	}
	// Each binary gets most of what is left of the scenario's time, so a
	// hanging test ends with go test's goroutine dump and a verdict.
	// -test.short: tests that storm the VMM with exits (machine's hostile
	// guests) shrink their storms 256 times, since an exit costs 5 to 40
	// times more on QEMU's emulated CPU than on this machine's /dev/kvm,
	// where make test runs them full size.
	args := []string{"-test.v", "-test.count=1", "-test.short", "-test.timeout=" + env.Budget(ctx, 0.9, testTimeout).String()}
	if run := env.Param(guestabi.ParamTestRun, ""); run != "" {
		args = append(args, "-test.run="+run)
	}
	verdict := guestabi.Pass
	var failedBins, failedTests []string
	for _, bin := range bins {
		name := filepath.Base(bin)
		start := time.Now()
		cmd := env.Command(ctx, bin, args...)
		cmd.Dir = os.TempDir()
		cmd.Env = append(cmd.Env, "GONEST_REQUIRE_KVM=1")
		env.Log.Info("test binary starting", "name", name, "args", strings.Join(args, " "))
		failed, err := runNotingFailures(cmd, env.Console)
		for _, t := range failed {
			failedTests = append(failedTests, name+":"+t)
		}
		took := time.Since(start).Round(time.Millisecond)
		if err != nil {
			env.Log.Error("test binary failed", "name", name, "err", err, "took", took)
			failedBins = append(failedBins, name)
			verdict = guestabi.Fail
			continue
		}
		env.Log.Info("test binary passed", "name", name, "took", took)
	}
	env.Log.Info("kvmtests done", "binaries", len(bins), "failed", strings.Join(failedBins, ","), "verdict", verdict)
	for _, t := range failedTests {
		env.Log.Error("failed test", "test", t)
	}
	return verdict
}

// runNotingFailures runs cmd with its output copied to console line by
// line, and returns the tests its "--- FAIL: TestX" lines name.
func runNotingFailures(cmd *exec.Cmd, console io.Writer) ([]string, error) {
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	var failed []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if test, ok := failedTest(sc.Text()); ok {
				failed = append(failed, test)
			}
			_, _ = io.WriteString(console, sc.Text()+"\n")
		}
		_, _ = io.Copy(console, r) // a line over 1 MiB: the rest as it comes
	}()
	err := cmd.Run()
	w.Close()
	<-done
	return failed, err
}

// failedTest recognizes go test's "--- FAIL: TestX (0.01s)" line, subtests
// (indented) included, and returns the test name.
func failedTest(line string) (string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimLeft(line, " \t"), "--- FAIL: ")
	if !ok {
		return "", false
	}
	name, _, _ := strings.Cut(rest, " ")
	return name, name != ""
}
