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

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/lab"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeEnv makes the test binary act as QEMU (see fakeQEMU).
const fakeEnv = "GONEST_LAB_FAKE_QEMU"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeFSEnv); mode != "" && len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "--socket-path=") {
		os.Exit(fakeVirtiofsd(mode, os.Args[1:]))
	}
	if mode := os.Getenv(fakeEnv); mode != "" {
		os.Exit(fakeQEMU(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeQEMU plays a lab run: it sends markers and messages to the
// isa-debugcon sockets, prints a console and exits the way QEMU would.
func fakeQEMU(mode string, args []string) int {
	socks := map[string]net.Conn{}
	for i, a := range args {
		if a == "-chardev" && i+1 < len(args) {
			id, path, _ := strings.Cut(strings.TrimPrefix(args[i+1], "socket,id="), ",path=")
			c, err := net.Dial("unix", path)
			if err != nil {
				fmt.Fprintln(os.Stderr, "qemu-system-x86_64: -chardev: cannot connect:", err)
				return 1
			}
			socks[id] = c
		}
	}
	mark := func(m guestabi.Marker) { _, _ = socks["markers"].Write([]byte{byte(m)}) }
	send := func(m guestabi.Message) {
		line, _ := guestabi.EncodeMessage(m)
		_, _ = socks["messages"].Write(append([]byte("SeaBIOS text, not a message\n"), line...))
	}
	boot := func() {
		fmt.Println("init: gonest-init started level=H")
		mark(guestabi.MarkerInitStarted)
		mark(guestabi.MarkerModulesLoaded)
		mark(guestabi.MarkerScenarioStart)
		fmt.Print("[G1] init: gonest-init started level=G1\r\n")
		fmt.Println("[G1] [G2] hello from G2")
	}
	switch mode {
	case "pass", "fail":
		boot()
		// G1's and G2's markers, as H's and G1's gonest -forward pass them up.
		mark(guestabi.Marker(guestabi.ForwardMarker(uint8(guestabi.MarkerInitStarted))))
		mark(guestabi.Marker(guestabi.ForwardMarker(guestabi.ForwardMarker(uint8(guestabi.MarkerScenarioEnd)))))
		mark(guestabi.MarkerScenarioEnd)
		v := guestabi.Pass
		if mode == "fail" {
			v = guestabi.Fail
		}
		send(guestabi.ResultMessage(guestabi.ResultBenchRow, "a row", nil))
		send(guestabi.VerdictMessage(v))
		time.Sleep(50 * time.Millisecond) // let the lab read the sockets before EOF
		return int(v)<<1 | 1
	case "qemu-error":
		fmt.Fprintln(os.Stderr, "qemu-system-x86_64: -device bogus: 'bogus' is not a valid device model name")
		return 1
	case "panic":
		boot()
		fmt.Println("[G1] Kernel panic - not syncing: Attempted to kill init!")
		return 0
	case "hang":
		boot()
		time.Sleep(time.Minute)
		return 0
	}
	return 99
}

func fakeConfig(t *testing.T, mode string, log *bytes.Buffer) lab.Config {
	t.Helper()
	t.Setenv(fakeEnv, mode)
	dir := t.TempDir()
	for _, f := range []string{"vmlinuz", "h.cpio.gz"} {
		require.NoError(t, os.WriteFile(dir+"/"+f, []byte("x"), 0o644))
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	return lab.Config{QEMU: exe, Kernel: dir + "/vmlinuz", Initrd: dir + "/h.cpio.gz", Scenario: "kvmtests",
		Timeout: 20 * time.Second, Log: log, TailLines: 5}
}

func TestRunWithFakeQEMU(t *testing.T) {
	tests := []struct {
		mode    string
		verdict guestabi.Verdict
		err     []string // substrings of the error; none means success
	}{
		{"pass", guestabi.Pass, nil},
		{"fail", guestabi.Fail, nil},
		{"qemu-error", 0, []string{"status 1 but the guest never reached", "not a valid device model"}},
		{"panic", 0, []string{"status 0 and no verdict", `last marker "scenario start"`,
			"--- last 2 lines of H/G1 ---\n  | init: gonest-init started level=G1\n  | Kernel panic"}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			var log bytes.Buffer
			res, err := lab.Run(context.Background(), fakeConfig(t, tt.mode, &log))
			if len(tt.err) > 0 {
				require.Error(t, err)
				for _, s := range tt.err {
					assert.Contains(t, err.Error(), s)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.verdict, res.Verdict)
			assert.Contains(t, log.String(), "[H] [G1] [G2] hello from G2\n")
			assert.Contains(t, log.String(), "[H] [G1] init: gonest-init started level=G1\n", "carriage returns dropped")
			var got []string
			for _, m := range res.Marks {
				got = append(got, m.String())
			}
			assert.Equal(t, []string{`"init started"`, `"modules loaded"`, `"scenario start"`,
				`G1 "init started"`, `G2 "scenario end"`, `"scenario end"`}, got, "every marker, with its level")
			_, ok := res.Mark(guestabi.MarkerScenarioEnd)
			assert.True(t, ok)
			_, ok = res.MarkAt(2, guestabi.MarkerScenarioEnd)
			assert.True(t, ok)
			assert.Contains(t, log.String(), `[lab] marker G1 "init started" at `)
			assert.Equal(t, []string{"hello from G2"}, res.Tails["H/G1/G2"])
			require.Len(t, res.Messages, 2, "H's messages, and nothing of the other text on the port")
			assert.Equal(t, "a row", res.Messages[0].Result.Text)
			assert.Equal(t, tt.verdict, res.Messages[1].Verdict.Code)
		})
	}
}

func TestRunTimeoutKillsQEMUAndShowsTails(t *testing.T) {
	var log bytes.Buffer
	cfg := fakeConfig(t, "hang", &log)
	cfg.Timeout = 2 * time.Second
	start := time.Now()
	_, err := lab.Run(context.Background(), cfg)
	require.Error(t, err)
	assert.Less(t, time.Since(start), 15*time.Second, "QEMU was killed at the timeout")
	for _, s := range []string{"timeout: no verdict within 2s", `last marker "scenario start"`,
		"--- last 1 lines of H ---\n  | init: gonest-init started level=H",
		"--- last 1 lines of H/G1/G2 ---\n  | hello from G2"} {
		assert.Contains(t, err.Error(), s)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	var log bytes.Buffer
	tests := []struct {
		name   string
		mutate func(*lab.Config)
		want   string
	}{
		{"no scenario", func(c *lab.Config) { c.Scenario = "" }, "name one scenario"},
		{"missing kernel", func(c *lab.Config) { c.Kernel = "/nonexistent/vmlinuz" }, "make images"},
		{"missing qemu", func(c *lab.Config) { c.QEMU = "/nonexistent/qemu" }, "apt-get install -y qemu-system-x86"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := fakeConfig(t, "pass", &log)
			tt.mutate(&cfg)
			_, err := lab.Run(context.Background(), cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

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
