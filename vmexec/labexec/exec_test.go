package labexec

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/launch"
)

// TestLabExecExitCodes: the command's own exit code comes out of gonest
// exec (a Go program that panics: 2, with its trace on stderr); a missing
// command is 127; -timeout is 124; a kernel panic is 125 with the
// console's tail.
func TestLabExecExitCodes(t *testing.T) {
	c := lab(t)
	dir := t.TempDir()
	t.Run("exit 7", func(t *testing.T) {
		r := execIn(t, cmdSpec{args: gonestExec(c, nil, "/bin/sh", "-c", "echo out; echo err >&2; exit 7"), dir: dir})
		assert.Equal(t, 7, r.code, "stderr: %s", r.stderr)
		assert.Equal(t, "out\n", r.stdout)
		assert.Equal(t, "err\n", r.stderr, "the command's stderr alone: no kernel log, no gonest line")
	})
	t.Run("from Go", func(t *testing.T) {
		res, err := launch.Exec(context.Background(), launch.ExecSpec{
			Gonest: launch.Gonest{Binary: c.Gonest}, Args: []string{"/bin/sh", "-c", "echo api; exit 3"}, Dir: dir,
		})
		require.NoError(t, err, "stderr: %s", res.Stderr)
		assert.Equal(t, 3, res.ExitCode)
		assert.True(t, res.CommandExited)
		assert.Equal(t, "api\n", string(res.Stdout))
		assert.Positive(t, res.Phases.CommandStarted, "the guest's steps are timed")
		t.Logf("launch.Exec: init at %v, command at %v, total %v", res.Phases.InitStarted, res.Phases.CommandStarted, res.Phases.Total)
	})
	t.Run("missing command", func(t *testing.T) {
		r := execIn(t, cmdSpec{args: gonestExec(c, nil, "no-such-command-here"), dir: dir})
		assert.Equal(t, 127, r.code, "stderr: %s", r.stderr)
		assert.Equal(t, "gonest exec: no-such-command-here: command not found\n", r.stderr)
		assert.Empty(t, r.stdout)
	})
	t.Run("Go panic", func(t *testing.T) {
		self, err := os.Executable()
		require.NoError(t, err)
		r := execIn(t, cmdSpec{args: gonestExec(c, nil, self), dir: dir, env: []string{helperEnv + "=panic"}})
		assert.Equal(t, 2, r.code, "a Go program that panics exits 2; stderr: %s", r.stderr)
		assert.Contains(t, r.stderr, "panic: labexec: panicking on purpose")
		assert.Contains(t, r.stderr, "goroutine 1 [running]:", "the command's own stderr: the whole trace")
		assert.Empty(t, r.stdout)
	})
	t.Run("timeout", func(t *testing.T) {
		r := execIn(t, cmdSpec{args: gonestExec(c, []string{"-timeout", "60s"}, "sleep", "600"), dir: dir})
		assert.Equal(t, 124, r.code, "stderr: %s", r.stderr)
		assert.Contains(t, r.stderr, "gonest exec: -timeout 1m0s expired")
	})
	t.Run("kernel panic", func(t *testing.T) {
		r := execIn(t, cmdSpec{args: gonestExec(c, nil, "/bin/sh", "-c", "echo c > /proc/sysrq-trigger; sleep 600"), dir: dir})
		assert.Equal(t, 125, r.code, "stderr: %s", r.stderr)
		assert.Contains(t, r.stderr, "gonest exec: the guest's kernel panicked before the command finished")
		assert.Contains(t, r.stderr, "Kernel panic - not syncing", "the console's tail shows the panic")
	})
}

// TestLabExecStdio: 64 MiB through stdin and back out of stdout byte for
// byte, with stderr apart.
func TestLabExecStdio(t *testing.T) {
	c := lab(t)
	data := make([]byte, 64<<20)
	_, err := rand.Read(data)
	require.NoError(t, err)
	r := execIn(t, cmdSpec{
		args:  gonestExec(c, nil, "/bin/sh", "-c", "echo begin >&2; cat; echo end >&2"),
		dir:   t.TempDir(),
		stdin: bytes.NewReader(data),
	})
	require.Equal(t, 0, r.code, "stderr: %s", clip(r.stderr))
	assert.Equal(t, len(data), len(r.stdout))
	assert.Equal(t, sha256.Sum256(data), sha256.Sum256([]byte(r.stdout)), "stdout is stdin, byte for byte")
	assert.Equal(t, "begin\nend\n", r.stderr)
	t.Logf("64 MiB each way in %.1fs", r.took.Seconds())
}

// TestLabExecFiles: the guest reads the host's files, writes through to
// the working directory as the same user, may write elsewhere in memory,
// and changes nothing else on the host (its removal of a host file outside
// the writable directories stays in the guest).
func TestLabExecFiles(t *testing.T) {
	c := lab(t)
	work := t.TempDir()
	hostFile := filepath.Join(t.TempDir(), "host.txt")
	require.NoError(t, os.WriteFile(hostFile, []byte("from the host\n"), 0o644))
	self, err := os.Executable()
	require.NoError(t, err)
	r := execIn(t, cmdSpec{args: gonestExec(c, nil, self), dir: work,
		env: []string{helperEnv + "=files", "HELPER_HOST_FILE=" + hostFile, "HELPER_SCRATCH=/etc/gonest-exec-scratch"}})
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	assert.Equal(t, "done\n", r.stdout, "stderr: %s", r.stderr)
	got, err := os.ReadFile(filepath.Join(work, "copy.txt"))
	require.NoError(t, err)
	assert.Equal(t, "from the host\nscratch\n", string(got), "read the host's file, wrote in the overlay, wrote through to cwd")
	ids, err := os.ReadFile(filepath.Join(work, "ids.txt"))
	require.NoError(t, err)
	assert.Equal(t, "0 0\n", string(ids), "the command ran as gonest's user")
	_, err = os.Stat("/etc/gonest-exec-scratch")
	assert.ErrorIs(t, err, os.ErrNotExist, "a write outside the writable directories stays in the guest")
	_, err = os.Stat(hostFile)
	assert.NoError(t, err, "the guest's removal of a host file outside the writable directories changed nothing here")
}

// TestLabExecOtherUser: run by an unprivileged user, gonest exec runs the
// command as that user, whose files on the host it writes.
func TestLabExecOtherUser(t *testing.T) {
	c := lab(t)
	const uid, gid = 4242, 4343
	home := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(home), 0o755)) // the test's temporary directories are 0700, root's
	require.NoError(t, os.Chown(home, uid, gid))
	require.NoError(t, os.Chmod("/dev/kvm", 0o666)) // as a udev rule would
	hostFile := filepath.Join(home, "host.txt")
	require.NoError(t, os.WriteFile(hostFile, []byte("the user's\n"), 0o644))
	require.NoError(t, os.Chown(hostFile, uid, gid))
	self, err := os.Executable()
	require.NoError(t, err)
	r := execIn(t, cmdSpec{
		args: gonestExec(c, nil, self), dir: home,
		env: []string{"HOME=" + home, helperEnv + "=files", "HELPER_HOST_FILE=" + hostFile},
		setup: func(cmd *exec.Cmd) {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
		},
	})
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	ids, err := os.ReadFile(filepath.Join(home, "ids.txt"))
	require.NoError(t, err)
	assert.Equal(t, "4242 4343\n", string(ids))
	st, err := os.Stat(filepath.Join(home, "copy.txt"))
	require.NoError(t, err)
	sys := st.Sys().(*syscall.Stat_t)
	assert.Equal(t, [2]uint32{uid, gid}, [2]uint32{sys.Uid, sys.Gid}, "the file the guest made is the user's")
	_, err = os.Stat(hostFile)
	assert.ErrorIs(t, err, os.ErrNotExist, "in the writable working directory, the guest's removal reached the host")
}

// TestLabExecTwoLevels: gonest exec in G1 runs gonest exec again (G2),
// which writes into the shared working directory; the host sees the
// file, and G2's exit code comes out of the outer gonest.
func TestLabExecTwoLevels(t *testing.T) {
	c := lab(t)
	work := t.TempDir()
	inner := "echo from G2 in $(pwd) > two-levels.txt; cat /proc/sys/kernel/random/boot_id >> two-levels.txt; exit 9"
	r := execIn(t, cmdSpec{
		args:    gonestExec(c, nil, c.Gonest, "exec", "-m", "384M", "--", "/bin/sh", "-c", inner),
		dir:     work,
		timeout: 10 * 60e9,
	})
	assert.Equal(t, 9, r.code, "stderr: %s", clip(r.stderr))
	got, err := os.ReadFile(filepath.Join(work, "two-levels.txt"))
	require.NoError(t, err, "G2 wrote through G1 to H")
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	require.Len(t, lines, 2)
	assert.Equal(t, "from G2 in "+work, lines[0], "G2 ran in the same directory")
	hostID, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	require.NoError(t, err)
	assert.NotEqual(t, strings.TrimSpace(string(hostID)), lines[1], "in a kernel of its own")
}
