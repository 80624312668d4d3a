package execinit

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gonest/gonest/vmexec/job"
)

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "tool")
	require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data"), nil, 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	env := []string{"HOME=/", "PATH=/nonexistent:" + dir}

	got, err := lookPath("tool", env)
	require.NoError(t, err)
	assert.Equal(t, exe, got)
	got, err = lookPath("./anything", env)
	require.NoError(t, err)
	assert.Equal(t, "./anything", got, "a name with a slash is used as it is")
	for _, name := range []string{"data", "sub", "nosuch"} {
		_, err = lookPath(name, env)
		assert.EqualError(t, err, name+": command not found", "%s: not an executable file", name)
	}
}

func TestStartError(t *testing.T) {
	assert.Equal(t, Status{Code: 127, Err: "x: no such file or directory"}, startError("x", &os.PathError{Op: "fork/exec", Path: "x", Err: unix.ENOENT}))
	assert.Equal(t, Status{Code: 126, Err: "x: permission denied"}, startError("x", unix.EACCES))
	assert.Equal(t, Status{Code: 126, Err: "x: exec format error"}, startError("x", unix.ENOEXEC))
	assert.Equal(t, []string{"code", "130", "signal", "SIGINT"}, Status{Code: 130, Signal: "SIGINT"}.fields())
	long := Status{Code: 127, Err: strings.Repeat("e", 2000)}.fields()
	assert.Len(t, long[3], 1024+3)
}

func TestWaitPorts(t *testing.T) {
	sys, dev := t.TempDir(), t.TempDir()
	add := func(node, name string) {
		require.NoError(t, os.MkdirAll(filepath.Join(sys, node), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(sys, node, "name"), []byte(name+"\n"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dev, node), nil, 0o600))
	}
	add("vport1p1", job.PortControl)
	add("vport1p2", job.PortStdin)
	go func() {
		time.Sleep(50 * time.Millisecond)
		add("vport1p3", job.PortStdout)
		add("vport1p4", job.PortStderr)
	}()
	got, err := waitPorts(context.Background(), sys, dev, job.Ports, 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dev, "vport1p1"), got[job.PortControl])
	assert.Equal(t, filepath.Join(dev, "vport1p4"), got[job.PortStderr])

	_, err = waitPorts(context.Background(), sys, dev, []string{"gonest.nope"}, 30*time.Millisecond)
	assert.ErrorContains(t, err, "virtio-console ports gonest.nope did not appear within 30ms")
}

// TestRunCommand runs a real command the way the init does: in its own
// session, as the job's user, stdio on the given files, reaping with
// wait4(-1), a signal from the control stream reaching its process group.
func TestRunCommand(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("setting the command's groups needs root, as the init has")
	}
	sh, err := lookPath("sh", []string{"PATH=/bin:/usr/bin"})
	require.NoError(t, err)
	log := slog.New(slog.DiscardHandler)
	// run runs script; once it prints "ready", signal (when not zero) is
	// sent on the control stream.
	run := func(t *testing.T, script string, signal unix.Signal) (Status, string, int) {
		t.Helper()
		inR, inW, err := os.Pipe()
		require.NoError(t, err)
		outR, outW, err := os.Pipe()
		require.NoError(t, err)
		_, _ = inW.WriteString("from stdin\n")
		inW.Close()
		ctlR, ctlW := io.Pipe()
		defer ctlW.Close()
		var out bytes.Buffer
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(outR)
			for sc.Scan() {
				out.WriteString(sc.Text() + "\n")
				if sc.Text() == "ready" && signal != 0 {
					go ctlW.Write(job.EncodeControl(job.Control{Signal: int(signal)})) //nolint:errcheck // the reader is the init
				}
			}
		}()
		j := job.Job{Args: []string{sh, "-c", script}, Dir: t.TempDir(), Env: []string{"PATH=/bin:/usr/bin", "X=42"}}
		var pid int
		st := runCommand(log, j, stdio{in: inR, out: outW, err: outW}, bufio.NewReader(ctlR), func(p int) { pid = p })
		<-done
		return st, out.String(), pid
	}

	st, out, pid := run(t, `read line; echo "$line $X $(pwd)"; exit 7`, 0)
	assert.Equal(t, Status{Code: 7}, st)
	assert.Contains(t, out, "from stdin 42 /")
	assert.NotZero(t, pid)

	// A background child outlives the command: the init reaps it too and
	// still reports the command's own status.
	st, _, _ = run(t, `(sleep 0.2; exit 3) >/dev/null & exit 5`, 0)
	assert.Equal(t, Status{Code: 5}, st)

	st, out, _ = run(t, `trap 'echo got INT; exit 42' INT; echo ready; i=0; while [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; exit 9`, unix.SIGINT)
	assert.Equal(t, Status{Code: 42}, st, "the control line's SIGINT reached the command's trap")
	assert.Contains(t, out, "got INT")

	st, _, _ = run(t, `kill -TERM $$`, 0)
	assert.Equal(t, Status{Code: 143, Signal: "SIGTERM"}, st)

	st, _, _ = run(t, `exit 0`, 0)
	assert.Equal(t, Status{Code: 0}, st)
}
