package labexec

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// goEnv is the environment of the go command in H: the lab's toolchain
// and warm cache, nothing fetched.
func goEnv(c Config) []string {
	return []string{
		"GOROOT=" + c.GoRoot, "PATH=" + filepath.Join(c.GoRoot, "bin") + ":/bin:/bbin:/usr/bin:/sbin",
		"GOCACHE=" + c.GoCache, "GOMODCACHE=" + c.ModCache, "GOPATH=/tmp/gopath", "HOME=/tmp/gohome",
		"GOFLAGS=-mod=readonly", "GOTOOLCHAIN=local", "GOPROXY=off", "GOSUMDB=off", "GOTELEMETRY=off",
		"CGO_ENABLED=0", "GOENV=off",
	}
}

// TestLabExecGoTest runs a user's package with go test -exec 'gonest exec
// --': its tests read a file of H's outside the package, write into the
// package directory, and fail on purpose with EXECPKG_FAIL=1. go test must
// say ok, then FAIL, exactly as it would on the host.
func TestLabExecGoTest(t *testing.T) {
	c := lab(t)
	hostFile := filepath.Join(t.TempDir(), "host-file.txt")
	require.NoError(t, os.WriteFile(hostFile, []byte("H's own file\n"), 0o644))
	bootID, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	require.NoError(t, err)
	env := append(goEnv(c), "EXECPKG_HOST_FILE="+hostFile, "EXECPKG_HOST_TEXT=H's own file\n",
		"EXECPKG_HOST_BOOT_ID="+strings.TrimSpace(string(bootID)))
	goTest := []string{filepath.Join(c.GoRoot, "bin/go"), "test", "-count=1", "-v", "-exec", c.Gonest + " exec --", "."}

	pass := execIn(t, cmdSpec{args: goTest, dir: c.Work, env: env, timeout: 10 * time.Minute})
	assert.Equal(t, 0, pass.code, "go test must pass\n%s%s", pass.stdout, pass.stderr)
	for _, want := range []string{"--- PASS: TestReadsHostFile", "--- PASS: TestWritesIntoWorkingDirectory", "--- PASS: TestFailsOnPurpose", "ok  \texample.com/execpkg"} {
		assert.Contains(t, pass.stdout, want)
	}
	got, err := os.ReadFile(filepath.Join(c.Work, WrittenFile))
	require.NoError(t, err, "the test wrote into its directory through the share")
	assert.Equal(t, WrittenText, string(got))

	fail := execIn(t, cmdSpec{args: goTest, dir: c.Work, env: append(env, "EXECPKG_FAIL=1"), timeout: 10 * time.Minute})
	assert.Equal(t, 1, fail.code, "go test must fail\n%s%s", fail.stdout, fail.stderr)
	for _, want := range []string{"--- FAIL: TestFailsOnPurpose", "failing on purpose (EXECPKG_FAIL=1)", "FAIL\texample.com/execpkg"} {
		assert.Contains(t, fail.stdout, want)
	}
	assert.NotContains(t, fail.stdout, "ok  \texample.com/execpkg")
	t.Logf("go test -exec: pass run %.1fs, fail run %.1fs", pass.took.Seconds(), fail.took.Seconds())
}

// TestLabExecKVMTests runs gonest's own KVM tests the CI way: go test
// -exec 'gonest exec --' in H, so each test binary runs in an exec guest,
// against the nested KVM that guest's /dev/kvm offers.
func TestLabExecKVMTests(t *testing.T) {
	c := lab(t)
	if len(c.KVMTests) == 0 {
		t.Skip("the lab asked for no KVM test packages (Config.KVMTests)")
	}
	args := append([]string{filepath.Join(c.GoRoot, "bin/go"), "test", "-count=1", "-short", "-exec", c.Gonest + " exec --"}, c.KVMTests...)
	r := execIn(t, cmdSpec{args: args, dir: c.Repo, env: append(goEnv(c), "GONEST_REQUIRE_KVM=1"), timeout: 15 * time.Minute})
	assert.Equal(t, 0, r.code, "%s%s", clip(r.stdout), clip(r.stderr))
	for _, p := range c.KVMTests {
		assert.Contains(t, r.stdout, "ok  \tgithub.com/gonest/gonest/"+strings.TrimPrefix(p, "./"))
	}
	t.Logf("go test -exec %s:\n%s", strings.Join(c.KVMTests, " "), r.stdout)
}

// TestLabExecCtrlC: with gonest exec on a terminal, Ctrl-C reaches the
// command in the guest: the terminal sends SIGINT to gonest, which passes
// it on to the command's process group.
func TestLabExecCtrlC(t *testing.T) {
	c := lab(t)
	master, slave := openPTY(t)
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(c.Gonest, "exec", "--", self)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), helperEnv+"=wait-signal")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	// Its own session with the terminal as its controlling one: the
	// terminal's foreground process group, as a shell would make it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	require.NoError(t, cmd.Start())
	slave.Close()
	out := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				out <- string(buf[:n])
			}
			if err != nil {
				close(out)
				return
			}
		}
	}()
	var seen strings.Builder
	waitFor := func(want string, d time.Duration) {
		t.Helper()
		deadline := time.After(d)
		for !strings.Contains(seen.String(), want) {
			select {
			case s, ok := <-out:
				if !ok {
					t.Fatalf("terminal closed before %q; it showed:\n%s", want, seen.String())
				}
				seen.WriteString(s)
			case <-deadline:
				t.Fatalf("no %q on the terminal within %v; it showed:\n%s", want, d, seen.String())
			}
		}
	}
	waitFor("ready", 5*time.Minute)
	_, err = master.Write([]byte{0x03}) // Ctrl-C: the line discipline's VINTR
	require.NoError(t, err)
	waitFor("got interrupt", time.Minute)
	err = cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "terminal:\n%s", seen.String())
	assert.Equal(t, 42, ee.ExitCode(), "the command's exit code after SIGINT; terminal:\n%s", seen.String())
}

// openPTY opens a pseudo-terminal pair, mounting devpts first if this
// level (H's initramfs) has not.
func openPTY(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	if _, err := os.Stat("/dev/pts/ptmx"); err != nil {
		require.NoError(t, os.MkdirAll("/dev/pts", 0o755))
		require.NoError(t, unix.Mount("devpts", "/dev/pts", "devpts", 0, "ptmxmode=0666"))
	}
	master, err := os.OpenFile("/dev/pts/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { master.Close() })
	require.NoError(t, unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	require.NoError(t, err)
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	return master, slave
}
