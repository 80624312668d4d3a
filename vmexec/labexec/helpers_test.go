package labexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/scenario"
)

// helperEnv makes this test binary, run as a command inside an exec
// guest, a small program instead (TestMain).
const helperEnv = "GONEST_EXEC_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "wait-signal":
		os.Exit(waitSignal())
	case "files":
		os.Exit(files())
	case "panic":
		panic("labexec: panicking on purpose")
	default:
		os.Stderr.WriteString("unknown " + helperEnv + "\n")
		os.Exit(3)
	}
}

// waitSignal says "ready" and exits 42 when SIGINT arrives, 43 for
// SIGTERM: the command side of the Ctrl-C test.
func waitSignal() int {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	os.Stdout.WriteString("ready\n")
	select {
	case sig := <-ch:
		os.Stdout.WriteString("got " + sig.String() + "\n")
		if sig == syscall.SIGINT {
			return 42
		}
		return 43
	case <-time.After(5 * time.Minute):
		return 1
	}
}

// files is the command side of the file tests, in Go rather than in a
// script (H's u-root tools differ from coreutils): it copies the host file
// HELPER_HOST_FILE into copy.txt in the working directory, after a
// scratch file's text when HELPER_SCRATCH names one to write first,
// records its user and group in ids.txt, then removes the host file.
func files() int {
	fail := func(err error) int {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	host, err := os.ReadFile(os.Getenv("HELPER_HOST_FILE"))
	if err != nil {
		return fail(err)
	}
	if scratch := os.Getenv("HELPER_SCRATCH"); scratch != "" {
		if err := os.WriteFile(scratch, []byte("scratch\n"), 0o644); err != nil {
			return fail(err)
		}
		b, err := os.ReadFile(scratch)
		if err != nil {
			return fail(err)
		}
		host = append(host, b...)
	}
	if err := os.WriteFile("copy.txt", host, 0o644); err != nil {
		return fail(err)
	}
	if err := os.WriteFile("ids.txt", []byte(fmt.Sprintf("%d %d\n", os.Getuid(), os.Getgid())), 0o644); err != nil {
		return fail(err)
	}
	if err := os.Remove(os.Getenv("HELPER_HOST_FILE")); err != nil {
		return fail(err)
	}
	os.Stdout.WriteString("done\n")
	return 0
}

// lab returns the lab's settings, or skips the test outside the lab.
func lab(t *testing.T) Config {
	t.Helper()
	path := os.Getenv(scenario.ExecLabEnv)
	if path == "" {
		t.Skipf("not in the lab's H: %s is unset (make lab-test LAB_TEST_RUN=TestLabExec runs these tests there)", scenario.ExecLabEnv)
	}
	c, err := ReadConfig(path)
	require.NoError(t, err)
	return c
}

// run is one finished command.
type run struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// cmdSpec is a command to run in H.
type cmdSpec struct {
	args    []string
	dir     string
	env     []string // added to H's environment
	stdin   io.Reader
	timeout time.Duration
	setup   func(*exec.Cmd)
}

// execIn runs a command in H and returns how it ended, logging it.
func execIn(t *testing.T, c cmdSpec) run {
	t.Helper()
	if c.timeout == 0 {
		c.timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.args[0], c.args[1:]...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Stdin = c.stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 10 * time.Second
	if c.setup != nil {
		c.setup(cmd)
	}
	start := time.Now()
	err := cmd.Run()
	r := run{stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		r.code = ee.ExitCode()
	default:
		t.Fatalf("%s: %v (after %v)\nstdout: %s\nstderr: %s", strings.Join(c.args, " "), err, r.took, clip(r.stdout), clip(r.stderr))
	}
	t.Logf("%s: exit %d after %.1fs", strings.Join(c.args, " "), r.code, r.took.Seconds())
	return r
}

// clip keeps a log readable.
func clip(s string) string {
	const n = 4000
	if len(s) > n {
		return s[:n/2] + "\n...\n" + s[len(s)-n/2:]
	}
	return s
}

// gonestExec is gonest exec's command line: flags, then the command.
// Shells are named by path: H's u-root busybox finds its command from
// argv[0], and "sh" is not one of its names (/bin/sh links to gosh), on
// H as in the guest.
func gonestExec(c Config, flags []string, command ...string) []string {
	args := append([]string{c.Gonest, "exec"}, flags...)
	return append(append(args, "--"), command...)
}
