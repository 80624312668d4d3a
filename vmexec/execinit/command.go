package execinit

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/gonest/gonest/vmexec/job"
)

// Status is how the command ended: its exit code as a shell reports it
// (128+N for signal N), or why it never started.
type Status struct {
	Code   int
	Signal string // the signal that killed it
	Err    string // why it could not start (Code 126 or 127)
}

// Exit codes of a command that cannot start, as POSIX shells give them
// (XCU 2.8.2, "Exit Status for Commands").
const (
	codeCannotRun = 126
	codeNotFound  = 127
)

// lookPath finds name as a shell would, with the job's PATH: a name with
// a slash is used as it is; otherwise the first regular file with an
// execute bit in PATH. The error is the shell's "command not found".
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	pathVar := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathVar = v
		}
	}
	for _, dir := range filepath.SplitList(pathVar) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: command not found", name)
}

// startError turns a failed execve into the shell's status: 127 when the
// file (or its interpreter) is not there, 126 when it cannot be executed.
func startError(path string, err error) Status {
	code := codeCannotRun
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		code = codeNotFound
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return Status{Code: code, Err: fmt.Sprintf("%s: %v", path, err)}
}

// io are the command's standard streams in the guest.
type stdio struct{ in, out, err *os.File }

// openStdio opens the three stream ports, each blocking (the command
// inherits the descriptors as they are: a non-blocking one would fail its
// reads with EAGAIN).
func openStdio(ports map[string]string) (stdio, error) {
	open := func(name string, flags int) (*os.File, error) {
		dev, ok := ports[name]
		if !ok {
			return nil, fmt.Errorf("no port %s", name)
		}
		fd, err := unix.Open(dev, flags|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open %s (%s): %w", dev, name, err)
		}
		return os.NewFile(uintptr(fd), dev), nil
	}
	var s stdio
	var err error
	if s.in, err = open(job.PortStdin, unix.O_RDONLY); err != nil {
		return s, err
	}
	if s.out, err = open(job.PortStdout, unix.O_WRONLY); err != nil {
		return s, err
	}
	s.err, err = open(job.PortStderr, unix.O_WRONLY)
	return s, err
}

func (s stdio) close() {
	for _, f := range []*os.File{s.in, s.out, s.err} {
		if f != nil {
			_ = f.Close()
		}
	}
}

// runCommand starts the job's command as the job's user, in its own
// session (so that a signal reaches every process it starts), and waits
// for it, reaping every orphan on the way: the init is PID 1. Signals
// from the control stream go to the command's process group. onStart is
// called with its pid once it runs.
func runCommand(log *slog.Logger, j job.Job, io stdio, ctl *bufio.Reader, onStart func(pid int)) Status {
	path, err := lookPath(j.Args[0], j.Env)
	if err != nil {
		return Status{Code: codeNotFound, Err: err.Error()}
	}
	attr := &os.ProcAttr{
		Dir:   j.Dir,
		Env:   j.Env,
		Files: []*os.File{io.in, io.out, io.err},
		Sys: &syscall.SysProcAttr{
			Setsid: true,
			Credential: &syscall.Credential{
				Uid: j.UID, Gid: j.GID, Groups: j.Groups,
			},
		},
	}
	proc, err := os.StartProcess(path, j.Args, attr)
	if err != nil {
		return startError(j.Args[0], err)
	}
	// The init keeps none of the command's streams: a reader or writer of
	// a port in the init would compete with the command's.
	io.close()
	pid := proc.Pid
	onStart(pid)
	go forwardSignals(log, ctl, pid)
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return Status{Code: codeCannotRun, Err: fmt.Sprintf("wait for the command: %v", err)}
		}
		if got != pid {
			continue // an orphan the init inherited
		}
		switch {
		case ws.Exited():
			return Status{Code: ws.ExitStatus()}
		case ws.Signaled():
			return Status{Code: 128 + int(ws.Signal()), Signal: unix.SignalName(ws.Signal())}
		}
	}
}

// forwardSignals reads control lines and signals the command's process
// group (its pid: it leads its own session) with each.
func forwardSignals(log *slog.Logger, ctl *bufio.Reader, pid int) {
	for {
		c, err := job.ReadControl(ctl)
		if err != nil {
			return
		}
		if c.Signal == 0 {
			continue
		}
		sig := syscall.Signal(c.Signal)
		log.Info("signal from the host", "signal", unix.SignalName(sig))
		if err := unix.Kill(-pid, sig); err != nil {
			log.Warn("signal not delivered", "signal", unix.SignalName(sig), "err", err)
		}
	}
}

// setUp gives the command the host's process settings: umask, open-file
// limit, hostname, and a loopback interface that is up (tests listen on
// 127.0.0.1).
func setUp(log *slog.Logger, j job.Job) {
	unix.Umask(int(j.Umask))
	if j.NoFile[0] > 0 && j.NoFile[1] >= j.NoFile[0] {
		lim := unix.Rlimit{Cur: j.NoFile[0], Max: j.NoFile[1]}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			log.Info("open-file limit not set", "err", err)
		}
	}
	if j.Hostname != "" {
		if err := unix.Sethostname([]byte(j.Hostname)); err != nil {
			log.Info("hostname not set", "err", err)
		}
	}
	if err := loopbackUp(); err != nil {
		log.Warn("loopback interface not up", "err", err)
	}
}

// loopbackUp sets IFF_UP on lo.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS lo: %w", err)
	}
	return nil
}

// statusFields are the exit event's fields.
func (s Status) fields() []string {
	kv := []string{"code", strconv.Itoa(s.Code)}
	if s.Signal != "" {
		kv = append(kv, "signal", s.Signal)
	}
	if s.Err != "" {
		kv = append(kv, "error", truncate(s.Err, 1024))
	}
	return kv
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
