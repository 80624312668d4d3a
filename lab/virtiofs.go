package lab

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultVirtiofsd is the virtio-fs daemon the lab serves Config.Shares
// with: QEMU's own, from Debian 12's qemu-system-common.
const DefaultVirtiofsd = "/usr/lib/qemu/virtiofsd"

// virtiofsdPackage installs DefaultVirtiofsd.
const virtiofsdPackage = "qemu-system-common"

// socketWait bounds how long a virtiofsd may take to listen on its socket.
const socketWait = 30 * time.Second

// roWrapper makes a read-only share read-only on this machine, not only
// in H: in a private mount namespace (unshare(1)), the share's directory
// is bind-mounted read-only onto itself, then virtiofsd runs there. Its
// own sandbox bind-mounts that directory again, and a bind mount keeps the
// read-only flag of the mount it copies (clone_mnt() in fs/namespace.c
// copies mnt_flags), so a write H sends gets EROFS from this kernel.
var roWrapper = []string{"unshare", "--mount", "--propagation", "private", "--",
	"sh", "-c", `mount --bind -o ro -- "$1" "$1" && shift && exec "$@"`, "sh"}

// clientGone is what virtiofsd prints, at error level, when QEMU closed
// its connection (virtio_loop() in tools/virtiofsd/fuse_virtio.c, QEMU
// 7.2: POLLHUP on the vhost-user socket); it then exits 0. Every run ends
// so, so the log leaves the line out; the tail keeps it.
const clientGone = "virtio_loop: Unexpected poll revents"

// fsServer is one virtiofsd serving one share on a Unix socket QEMU's
// vhost-user-fs-pci connects to.
type fsServer struct {
	share  Share
	sock   string
	cmd    *exec.Cmd
	tail   *lineTail
	done   chan struct{} // closed once virtiofsd exited
	err    error         // its exit, set before done closes
	mu     sync.Mutex
	closed bool // stop was called: an exit is expected
}

// fsServers is every share's virtiofsd of one run.
type fsServers struct {
	dir     string
	servers []*fsServer
}

// virtiofsdArgs is the command line serving sh on sock: the read-only
// wrapper first for a read-only share. cache=always lets H keep what it
// read of a read-only share (nothing changes it during a run); a writable
// one uses cache=auto, so this machine's own changes reach H within a
// second. Every write H makes goes straight to virtiofsd (no writeback
// cache), so this machine sees it once H's write returns.
func virtiofsdArgs(bin string, sh Share, sock string) []string {
	cache := "auto"
	if sh.ReadOnly {
		cache = "always"
	}
	args := []string{bin, "--socket-path=" + sock, "-o", "source=" + sh.Dir, "-o", "cache=" + cache, "-o", "log_level=warn"}
	if sh.ReadOnly {
		args = append(append(append([]string{}, roWrapper...), sh.Dir), args...)
	}
	return args
}

// startShares starts a virtiofsd for each of cfg.Shares, its socket in a
// new temporary directory, and waits up to wait until each listens. log
// gets their output, each line prefixed with the share's tag. On error,
// nothing is left running.
func startShares(ctx context.Context, cfg Config, log io.Writer, wait time.Duration) (*fsServers, error) {
	if len(cfg.Shares) == 0 {
		return &fsServers{}, nil
	}
	dir, err := os.MkdirTemp("", "gonest-lab-fs")
	if err != nil {
		return nil, fmt.Errorf("lab shares: %w", err)
	}
	fs := &fsServers{dir: dir}
	for i, sh := range cfg.Shares {
		s, err := startServer(cfg, sh, filepath.Join(dir, fmt.Sprintf("fs%d.sock", i)), log)
		if err != nil {
			fs.stop()
			return nil, err
		}
		fs.servers = append(fs.servers, s)
	}
	for _, s := range fs.servers {
		if err := s.waitListening(ctx, wait); err != nil {
			fs.stop()
			return nil, err
		}
	}
	return fs, nil
}

func startServer(cfg Config, sh Share, sock string, log io.Writer) (*fsServer, error) {
	args := virtiofsdArgs(cfg.Virtiofsd, sh, sock)
	cmd := exec.Command(args[0], args[1:]...)
	s := &fsServer{share: sh, sock: sock, cmd: cmd, tail: &lineTail{max: cfg.TailLines}, done: make(chan struct{})}
	prefix := "[virtiofsd " + sh.Tag + "] "
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	// Its own process group, so a stop reaches the process virtiofsd's
	// sandbox forks; Pdeathsig kills it if this process dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = pr.Close()
		return nil, fmt.Errorf("lab share %s: start virtiofsd: %w", sh.Tag, err)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.tail.add(sc.Text())
			if !strings.Contains(sc.Text(), clientGone) {
				_, _ = fmt.Fprintf(log, "%s%s\n", prefix, sc.Text())
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		err := cmd.Wait()
		_ = pw.Close()
		<-copied
		s.err = err
		close(s.done)
	}()
	return s, nil
}

// waitListening waits until virtiofsd listens on its socket. It never
// connects: virtiofsd serves the first connection it accepts, which must
// be QEMU's. The kernel lists listening Unix sockets in /proc/net/unix.
func (s *fsServer) waitListening(ctx context.Context, limit time.Duration) error {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		b, err := os.ReadFile("/proc/net/unix")
		if err != nil {
			return fmt.Errorf("lab share %s: %w", s.share.Tag, err)
		}
		if unixListening(b, s.sock) {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("lab share %s: virtiofsd exited before it listened (%v)%s", s.share.Tag, s.err, s.tailText())
		case <-deadline.C:
			return fmt.Errorf("lab share %s: virtiofsd did not listen on %s within %v%s", s.share.Tag, s.sock, limit, s.tailText())
		case <-ctx.Done():
			return fmt.Errorf("lab share %s: %w", s.share.Tag, ctx.Err())
		case <-tick.C:
		}
	}
}

// soAcceptCon is __SO_ACCEPTCON (include/linux/net.h), the flag
// /proc/net/unix shows for a listening socket (unix_seq_show() in
// net/unix/af_unix.c).
const soAcceptCon = 1 << 16

// unixListening reports whether /proc/net/unix (its text in b) lists a
// listening socket bound to path. Its columns: Num RefCount Protocol
// Flags Type St Inode Path, the numbers in hex.
func unixListening(b []byte, path string) bool {
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) < 8 || f[7] != path {
			continue
		}
		if flags, err := strconv.ParseUint(f[3], 16, 32); err == nil && flags&soAcceptCon != 0 {
			return true
		}
	}
	return false
}

// watch calls cancel with the reason when a virtiofsd fails before stop:
// H cannot go on without its share, so the run ends at once rather than
// at its time limit. A virtiofsd exits 0 by itself once QEMU closed its
// connection (see clientGone), often before launch.Run has returned after
// QEMU's exit or its kill at the timeout: that is no failure, and leaves
// QEMU's status or the timeout to say how the run ended.
func (fs *fsServers) watch(cancel context.CancelCauseFunc) {
	for _, s := range fs.servers {
		go func() {
			<-s.done
			s.mu.Lock()
			expected := s.closed
			s.mu.Unlock()
			if !expected && s.err != nil {
				cancel(fmt.Errorf("virtiofsd for share %s (%s) exited during the run (%v)%s", s.share.Tag, s.share.Dir, s.err, s.tailText()))
			}
		}()
	}
}

// stop kills every virtiofsd (its process group), waits for each, and
// removes the sockets' directory.
func (fs *fsServers) stop() {
	for _, s := range fs.servers {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		select {
		case <-s.done:
			continue
		default:
		}
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	if fs.dir != "" {
		_ = os.RemoveAll(fs.dir)
	}
}

// sockets returns each share's socket path, in Config.Shares's order.
func (fs *fsServers) sockets() []string {
	out := make([]string, len(fs.servers))
	for i, s := range fs.servers {
		out[i] = s.sock
	}
	return out
}

// tails returns each virtiofsd's last lines, keyed "virtiofsd TAG", for
// Result.Tails; a quiet virtiofsd has none.
func (fs *fsServers) tails() map[string][]string {
	out := map[string][]string{}
	for _, s := range fs.servers {
		if l := s.tail.lines(); len(l) > 0 {
			out["virtiofsd "+s.share.Tag] = l
		}
	}
	return out
}

func (s *fsServer) tailText() string {
	l := s.tail.lines()
	if len(l) == 0 {
		return ": it printed nothing"
	}
	return ":\n  | " + strings.Join(l, "\n  | ")
}

// lineTail keeps the last max lines added.
type lineTail struct {
	mu  sync.Mutex
	max int
	buf []string
}

func (t *lineTail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, line)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
}

func (t *lineTail) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.buf...)
}
