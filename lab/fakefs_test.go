package lab_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/lab"
)

// fakeFSEnv makes the test binary act as virtiofsd (see fakeVirtiofsd)
// when its first argument is --socket-path=.
const fakeFSEnv = "GONEST_LAB_FAKE_VIRTIOFSD"

// fakeVirtiofsd listens on its socket as virtiofsd does, writes its pid
// into its source directory (file "pid"), serves one connection (reads it
// until it closes) and then, by mode: "follow" exits 0, as virtiofsd does
// when QEMU is gone; "linger" stays until killed, as a virtiofsd that
// missed QEMU's exit would; "die" exits 3 soon after QEMU connected, as
// one that crashed mid-run.
func fakeVirtiofsd(mode string, args []string) int {
	sock := strings.TrimPrefix(args[0], "--socket-path=")
	var source string
	for i, a := range args {
		if a == "-o" && i+1 < len(args) && strings.HasPrefix(args[i+1], "source=") {
			source = strings.TrimPrefix(args[i+1], "source=")
		}
	}
	if err := os.WriteFile(filepath.Join(source, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "fake virtiofsd:", err)
		return 1
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake virtiofsd:", err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "fake virtiofsd serving", source)
	c, err := l.Accept()
	if err != nil {
		return 1
	}
	if mode == "die" {
		time.Sleep(200 * time.Millisecond)
		fmt.Fprintln(os.Stderr, "fake virtiofsd: lost the guest's queue")
		return 3
	}
	_, _ = io.Copy(io.Discard, c)
	fmt.Fprintln(os.Stderr, "virtio_loop: Unexpected poll revents 11")
	if mode == "linger" {
		time.Sleep(time.Hour)
	}
	return 0
}

// fakeShareConfig is fakeConfig with one writable share served by the
// fake virtiofsd in mode.
func fakeShareConfig(t *testing.T, qemuMode, fsMode string, log *bytes.Buffer) lab.Config {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("lab shares need root (virtiofsd's sandbox); run the test as root")
	}
	t.Setenv(fakeFSEnv, fsMode)
	cfg := fakeConfig(t, qemuMode, log)
	cfg.Virtiofsd = cfg.QEMU
	cfg.Shares = []lab.Share{{Dir: t.TempDir(), Tag: "work"}}
	return cfg
}

// assertGone checks that the fake virtiofsd of share is no longer running.
func assertGone(t *testing.T, share lab.Share) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(share.Dir, "pid"))
	require.NoError(t, err, "the fake virtiofsd started")
	pid, err := strconv.Atoi(string(b))
	require.NoError(t, err)
	assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "virtiofsd %d still runs after the lab run", pid)
}

// TestRunSharesLifecycle: the lab starts a share's virtiofsd before QEMU,
// which connects to it, and kills it when the run ends, whether by a
// verdict or a timeout; a virtiofsd that fails mid-run ends the run at
// once, with its last lines. One that exits 0 because QEMU did (closed
// its connection) changes nothing.
func TestRunSharesLifecycle(t *testing.T) {
	tests := []struct {
		name, qemu, fs string
		timeout        time.Duration
		err            []string // substrings of the error; none means a pass
	}{
		{"verdict", "pass", "linger", 20 * time.Second, nil},
		{"verdict; virtiofsd gone with QEMU", "pass", "follow", 20 * time.Second, nil},
		{"timeout", "hang", "linger", 2 * time.Second, []string{"timeout: no verdict within 2s"}},
		{"timeout; virtiofsd gone with QEMU", "hang", "follow", 2 * time.Second, []string{"timeout: no verdict within 2s"}},
		{"virtiofsd dies", "hang", "die", 30 * time.Second, []string{
			"virtiofsd for share work (", ") exited during the run (exit status 3)", "QEMU killed",
			"--- last 2 lines of virtiofsd work ---\n  | fake virtiofsd serving ", "\n  | fake virtiofsd: lost the guest's queue"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			cfg := fakeShareConfig(t, tt.qemu, tt.fs, &log)
			cfg.Timeout = tt.timeout
			start := time.Now()
			res, err := lab.Run(context.Background(), cfg)
			assertGone(t, cfg.Shares[0])
			assert.Contains(t, log.String(), "[virtiofsd work] fake virtiofsd serving "+cfg.Shares[0].Dir+"\n")
			assert.Contains(t, log.String(), " -device vhost-user-fs-pci,chardev=fs0,tag=work")
			assert.NotContains(t, log.String(), "poll revents", "virtiofsd's line at every run's end stays out of the log")
			if len(tt.err) == 0 {
				require.NoError(t, err)
				assert.Equal(t, guestabi.Pass, res.Verdict)
				return
			}
			require.Error(t, err)
			assert.Less(t, time.Since(start), 15*time.Second, "the run ended at once")
			for _, s := range tt.err {
				assert.Contains(t, err.Error(), s)
			}
		})
	}
}

func TestRunSharesBadConfig(t *testing.T) {
	var log bytes.Buffer
	cfg := fakeShareConfig(t, "pass", "linger", &log)
	cfg.Virtiofsd = "/nonexistent/virtiofsd"
	_, err := lab.Run(context.Background(), cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "apt-get install -y qemu-system-common")
}
