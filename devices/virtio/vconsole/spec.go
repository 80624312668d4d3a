package vconsole

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/gonest/gonest/internal/optlist"
)

// PortSpec is one -port NAME[,in=SRC][,out=DST] argument. SRC and DST
// are a file path or fd:N, a descriptor gonest inherited. A comma inside
// a path is written twice (",,").
type PortSpec struct {
	Name string
	In   string // "", a path, or fd:N
	Out  string
}

const portUsage = "use -port NAME[,in=PATH|fd:N][,out=PATH|fd:N]"

// ParsePortSpec parses a -port argument. It checks the syntax; Open
// checks the files.
func ParsePortSpec(s string) (PortSpec, error) {
	fields := optlist.Split(s)
	spec := PortSpec{Name: fields[0]}
	if err := CheckName(spec.Name); err != nil {
		return PortSpec{}, fmt.Errorf("-port %q: %w; %s", s, err, portUsage)
	}
	seen := map[string]bool{}
	for _, f := range fields[1:] {
		name, value, hasValue := strings.Cut(f, "=")
		if seen[name] {
			return PortSpec{}, fmt.Errorf("-port %q: option %q given twice", s, name)
		}
		seen[name] = true
		switch {
		case (name == "in" || name == "out") && hasValue && value != "":
			if _, err := parseFD(value); err != nil {
				return PortSpec{}, fmt.Errorf("-port %q: %s=%s: %w", s, name, value, err)
			}
			if name == "in" {
				spec.In = value
			} else {
				spec.Out = value
			}
		case f == "":
			return PortSpec{}, fmt.Errorf("-port %q: empty option (a stray comma? write a comma in a path as ,,); %s", s, portUsage)
		default:
			return PortSpec{}, fmt.Errorf("-port %q: unknown option %q; options are in=PATH|fd:N and out=PATH|fd:N", s, f)
		}
	}
	if spec.In == "fd:0" {
		return PortSpec{}, fmt.Errorf("-port %q: in=fd:0 is the serial console's input; give the port another file or descriptor", s)
	}
	return spec, nil
}

// String formats the spec so that ParsePortSpec returns it again.
func (s PortSpec) String() string {
	out := s.Name
	if s.In != "" {
		out += ",in=" + optlist.Escape(s.In)
	}
	if s.Out != "" {
		out += ",out=" + optlist.Escape(s.Out)
	}
	return out
}

// parseFD returns N for "fd:N", -1 for a path, or an error for a bad fd:.
func parseFD(v string) (int, error) {
	rest, ok := strings.CutPrefix(v, "fd:")
	if !ok {
		return -1, nil
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want fd:N with N a descriptor number, such as fd:3")
	}
	return n, nil
}

// Check finds what Open would refuse, without opening or creating
// anything, so that gonest can refuse a bad -port before it changes a
// file. Errors are one line that names the file.
func (s PortSpec) Check() error {
	if s.In != "" {
		if err := checkEnd(s, s.In, false); err != nil {
			return err
		}
	}
	if s.Out != "" {
		if err := checkEnd(s, s.Out, true); err != nil {
			return err
		}
	}
	return nil
}

// Ends returns the port's configuration, whose In and Out open the spec's
// files when first used, and the Ends that own them. Nothing is opened
// yet: Ends.Open does it, once gonest is sure it will run.
func (s PortSpec) Ends() (PortConfig, *Ends) {
	e := &Ends{spec: s}
	cfg := PortConfig{Name: s.Name}
	if s.In != "" {
		e.in = &end{spec: s, v: s.In}
		cfg.In = e.in
	}
	if s.Out != "" {
		e.out = &end{spec: s, v: s.Out, write: true}
		cfg.Out = e.out
	}
	return cfg, e
}

// Ends are the host files of one -port.
type Ends struct {
	spec    PortSpec
	in, out *end
}

// Open opens both ends now: out= creates or truncates its file, as a
// shell's > does.
func (e *Ends) Open() error {
	for _, x := range []*end{e.in, e.out} {
		if x != nil {
			if _, err := x.file(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close closes what was opened; descriptors 0-2 stay open.
func (e *Ends) Close() error {
	var errs []error
	for _, x := range []*end{e.in, e.out} {
		if x != nil {
			errs = append(errs, x.close())
		}
	}
	return errors.Join(errs...)
}

// end is one side of a port: a path or a descriptor, opened on first use.
type end struct {
	spec  PortSpec
	v     string
	write bool

	mu     sync.Mutex
	f      *os.File
	err    error
	closed bool
}

func (x *end) file() (*os.File, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.f == nil && x.err == nil {
		if x.closed {
			x.err = fmt.Errorf("-port %s: closed", x.spec.Name)
		} else {
			x.f, x.err = openEnd(x.spec, x.v, x.write)
		}
	}
	return x.f, x.err
}

func (x *end) Read(p []byte) (int, error) {
	f, err := x.file()
	if err != nil {
		return 0, err
	}
	return f.Read(p)
}

func (x *end) Write(p []byte) (int, error) {
	f, err := x.file()
	if err != nil {
		return 0, err
	}
	return f.Write(p)
}

func (x *end) close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.closed = true
	f := x.f
	x.f = nil
	if f == nil || f == os.Stdin || f == os.Stdout || f == os.Stderr {
		return nil
	}
	return f.Close()
}

// checkEnd is openEnd without the opening.
func checkEnd(s PortSpec, v string, write bool) error {
	what := direction(write)
	if fd, _ := parseFD(v); fd >= 0 {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil {
			return fmt.Errorf("-port %s: %s=%s: descriptor %d is not open; open it in the shell (%d<FILE or %d>FILE)", s.Name, what, v, fd, fd, fd)
		}
		acc := flags & unix.O_ACCMODE
		if write && acc == unix.O_RDONLY || !write && acc == unix.O_WRONLY {
			return fmt.Errorf("-port %s: %s=%s: descriptor %d is not open for %s", s.Name, what, v, fd, map[bool]string{true: "writing", false: "reading"}[write])
		}
		return nil
	}
	st, err := os.Stat(v)
	switch {
	case err == nil && st.IsDir():
		return fmt.Errorf("-port %s: %s=%s is a directory; give a file", s.Name, what, v)
	case err == nil && st.Mode()&os.ModeNamedPipe != 0:
		return fmt.Errorf("-port %s: %s=%s is a FIFO; pass it as a descriptor: %s=fd:3 3%sFIFO", s.Name, what, v, what, map[bool]string{true: ">", false: "<"}[write])
	case err == nil:
		mode := uint32(unix.R_OK)
		if write {
			mode = unix.W_OK
		}
		if err := unix.Access(v, mode); err != nil {
			return fmt.Errorf("-port %s: %s=%s: %w", s.Name, what, v, err)
		}
		return nil
	case !write || !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("-port %s: %s=%s: %w", s.Name, what, v, unwrapPath(err))
	}
	// out= names a file to create: its directory must take it.
	dir := filepath.Dir(v)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("-port %s: %s=%s: directory %s does not exist", s.Name, what, v, dir)
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("-port %s: %s=%s: cannot create files in %s: %w", s.Name, what, v, dir, err)
	}
	return nil
}

func direction(write bool) string {
	if write {
		return "out"
	}
	return "in"
}

// openEnd opens one end: a descriptor, or a path (a regular file or a
// character device; a FIFO would block here until its other end opened,
// so it is passed as fd:N instead).
func openEnd(s PortSpec, v string, write bool) (*os.File, error) {
	if err := checkEnd(s, v, write); err != nil {
		return nil, err
	}
	if fd, _ := parseFD(v); fd >= 0 {
		if fd < len(stdFiles) {
			// Their own *os.File: another would close the descriptor when
			// the garbage collector finalized it.
			return stdFiles[fd], nil
		}
		return os.NewFile(uintptr(fd), v), nil
	}
	flags := os.O_RDONLY
	if write {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(v, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("-port %s: %s=%s: %w", s.Name, direction(write), v, unwrapPath(err))
	}
	return f, nil
}

// unwrapPath drops the *PathError's repetition of the path.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

var stdFiles = []*os.File{os.Stdin, os.Stdout, os.Stderr}
