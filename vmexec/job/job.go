package job

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/gonest/gonest/internal/optlist"
)

// Names of the virtio-console ports gonest exec gives its guest; the
// guest finds each by its name in /sys/class/virtio-ports/*/name.
const (
	// PortControl carries the Job, one JSON line, then Control lines,
	// host to guest.
	PortControl = "gonest.ctl"
	// PortStdin, PortStdout and PortStderr are the command's own streams,
	// each on its own port: the end of stdin closes its port's host end,
	// and Linux then blocks writes on that port.
	PortStdin  = "gonest.stdin"
	PortStdout = "gonest.stdout"
	PortStderr = "gonest.stderr"
)

// Ports lists the ports in the order the host creates them (port 1 first).
var Ports = []string{PortControl, PortStdin, PortStdout, PortStderr}

// Share tags: the host's root, and the writable directories in order.
const (
	TagRoot     = "gonest.root"
	tagRWPrefix = "gonest.rw"
)

// RWTag is the tag of the i-th writable directory (0: usually the working
// directory).
func RWTag(i int) string { return fmt.Sprintf("%s%d", tagRWPrefix, i) }

// Root transports: how the guest reaches the host's root directory.
const (
	TransportVirtioFS = "virtiofs" // gonest's own -fs device
	Transport9P       = "9p"       // QEMU's -virtfs, for the benchmark that compares the two
)

// Events the guest init sends the host (guestabi event messages).
const (
	// EventExit carries the command's exit status: field "code" (0 to
	// 255; 128+N for a command killed by signal N), "signal" (its name
	// when a signal killed it) and "error" (why it could not start: code
	// 126 or 127).
	EventExit = "exec-exit"
	// EventError says the guest could not set up the command's world
	// (a module, a mount, a port): field "error". The run ends without
	// an exit status of the command.
	EventError = "exec-error"
	// EventStarted says the command was started (field "pid").
	EventStarted = "exec-started"
)

// ModuleList, in the initramfs's lib/modules/<release>, lists the modules
// the guest init loads, in order, each after its dependencies, one a line:
// "GROUP NAME PATH", GROUP followed by "?" for a soft dependency, whose
// failure is not fatal. Modules the kernel has built in are not listed.
const ModuleList = "gonest-exec.modules"

// Module groups of ModuleList: the init loads GroupBase always, GroupKVM
// when its CPU offers SVM or VMX, GroupExtra always.
const (
	GroupBase  = "base"
	GroupKVM   = "kvm"
	GroupExtra = "extra"
)

// MaxJobLine bounds the job's line: arguments and environment together.
// Linux itself refuses more than 2 MiB of them in one execve (MAX_ARG_STRLEN
// is 128 KiB per string; the stack limit takes a quarter of 8 MiB).
const MaxJobLine = 4 << 20

// Job is everything the guest needs to run the command as it would run on
// the host: the command, its world (files, user, environment) and how to
// reach the host's files.
type Job struct {
	Args []string `json:"args"` // the command and its arguments
	Dir  string   `json:"dir"`  // working directory, absolute
	Env  []string `json:"env"`  // KEY=VALUE, as the command gets it

	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
	Umask  uint32   `json:"umask"`
	// NoFile is RLIMIT_NOFILE, soft and hard, as the host gave gonest.
	NoFile   [2]uint64 `json:"nofile"`
	Hostname string    `json:"hostname,omitempty"`

	Root   Root    `json:"root"`
	Shares []Share `json:"shares,omitempty"`
}

// Root is how the guest builds its root: the host's / read-only, under a
// tmpfs overlay.
type Root struct {
	Tag       string `json:"tag"`
	Transport string `json:"transport"`
	// Submounts are the host's mount points (absolute, cleaned, sorted,
	// parents first) that the guest sees as separate file systems under
	// the root share: each gets an overlay of its own, since overlayfs
	// does not cross into them.
	Submounts []string `json:"submounts,omitempty"`
}

// Share is a host directory the guest mounts writable at the same path.
type Share struct {
	Tag  string `json:"tag"`
	Path string `json:"path"`
}

// Control is a line the host sends after the Job.
type Control struct {
	// Signal, when not zero, is a signal for the command's process group
	// (gonest exec received it: Ctrl-C, kill).
	Signal int `json:"signal,omitempty"`
}

// Encode returns the job as one line, newline included.
func Encode(j Job) ([]byte, error) {
	if err := j.Check(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	if len(b)+1 > MaxJobLine {
		return nil, fmt.Errorf("job: arguments and environment take %d bytes, more than %d", len(b), MaxJobLine)
	}
	return append(b, '\n'), nil
}

// Read reads the job's line from r; what follows it (control lines) stays
// in r.
func Read(r *bufio.Reader) (Job, error) {
	line, err := readLine(r, MaxJobLine)
	if err != nil {
		return Job{}, fmt.Errorf("job: %w", err)
	}
	var j Job
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return Job{}, fmt.Errorf("job: %w", err)
	}
	if dec.More() {
		return Job{}, errors.New("job: text after the JSON object")
	}
	if err := j.Check(); err != nil {
		return Job{}, err
	}
	return j, nil
}

// maxControlLine bounds a control line.
const maxControlLine = 256

// EncodeControl returns c as one line.
func EncodeControl(c Control) []byte {
	b, _ := json.Marshal(c) // two integers: cannot fail
	return append(b, '\n')
}

// ReadControl reads the next control line.
func ReadControl(r *bufio.Reader) (Control, error) {
	line, err := readLine(r, maxControlLine)
	if err != nil {
		return Control{}, err
	}
	var c Control
	if err := json.Unmarshal([]byte(line), &c); err != nil {
		return Control{}, fmt.Errorf("control line: %w", err)
	}
	if c.Signal < 0 || c.Signal > 64 {
		return Control{}, fmt.Errorf("control line: signal %d out of range", c.Signal)
	}
	return c, nil
}

// readLine reads up to a newline, refusing lines longer than limit.
func readLine(r *bufio.Reader, limit int) (string, error) {
	var b strings.Builder
	for {
		chunk, err := r.ReadSlice('\n')
		if b.Len()+len(chunk) > limit+1 {
			return "", fmt.Errorf("line longer than %d bytes", limit)
		}
		b.Write(chunk)
		switch {
		case err == nil:
			return strings.TrimSuffix(b.String(), "\n"), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && b.Len() > 0:
			return "", io.ErrUnexpectedEOF
		default:
			return "", err
		}
	}
}

// Check refuses a job the guest could not carry out safely or sensibly.
func (j *Job) Check() error {
	if len(j.Args) == 0 || j.Args[0] == "" {
		return errors.New("job: no command")
	}
	if !cleanAbs(j.Dir) {
		return fmt.Errorf("job: working directory %q is not a clean absolute path", j.Dir)
	}
	for _, s := range append(append([]string{}, j.Args...), j.Env...) {
		if strings.ContainsRune(s, 0) {
			return errors.New("job: an argument or variable holds a NUL byte")
		}
	}
	for _, e := range j.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fmt.Errorf("job: environment entry %q is not KEY=VALUE", e)
		}
	}
	if j.Root.Transport != TransportVirtioFS && j.Root.Transport != Transport9P {
		return fmt.Errorf("job: root transport %q: want %s or %s", j.Root.Transport, TransportVirtioFS, Transport9P)
	}
	if err := optlist.CheckWord("root tag", j.Root.Tag, 36); err != nil {
		return fmt.Errorf("job: %w", err)
	}
	for _, m := range j.Root.Submounts {
		if !cleanAbs(m) || m == "/" {
			return fmt.Errorf("job: submount %q is not a clean absolute path below /", m)
		}
	}
	for _, s := range j.Shares {
		if err := optlist.CheckWord("share tag", s.Tag, 36); err != nil {
			return fmt.Errorf("job: %w", err)
		}
		if !cleanAbs(s.Path) || s.Path == "/" {
			return fmt.Errorf("job: share %s at %q: want a clean absolute path below /", s.Tag, s.Path)
		}
	}
	return nil
}

// cleanAbs reports whether p is absolute and clean ("/a/b", not "/a/../b").
func cleanAbs(p string) bool {
	return p != "" && path.IsAbs(p) && path.Clean(p) == p && !strings.ContainsRune(p, 0)
}
