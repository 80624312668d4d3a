package vconsole

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

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

// Open opens the spec's input and output and returns the port's
// configuration, and a closer for what it opened (descriptors 0-2 are
// left open). Errors are one line that names the file.
func (s PortSpec) Open() (PortConfig, io.Closer, error) {
	cfg := PortConfig{Name: s.Name}
	var files closers
	if s.In != "" {
		f, err := openEnd(s, s.In, false)
		if err != nil {
			return PortConfig{}, nil, err
		}
		files = append(files, f)
		cfg.In = f
	}
	if s.Out != "" {
		f, err := openEnd(s, s.Out, true)
		if err != nil {
			files.Close()
			return PortConfig{}, nil, err
		}
		files = append(files, f)
		cfg.Out = f
	}
	return cfg, files, nil
}

// openEnd opens one end: a descriptor, or a path (a regular file or a
// character device; a FIFO would block here until its other end opened,
// so it is passed as fd:N instead).
func openEnd(s PortSpec, v string, write bool) (*os.File, error) {
	what := "in"
	if write {
		what = "out"
	}
	fd, _ := parseFD(v)
	if fd >= 0 {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil {
			return nil, fmt.Errorf("-port %s: %s=%s: descriptor %d is not open; open it in the shell (%d<FILE or %d>FILE)", s.Name, what, v, fd, fd, fd)
		}
		acc := flags & unix.O_ACCMODE
		if write && acc == unix.O_RDONLY || !write && acc == unix.O_WRONLY {
			return nil, fmt.Errorf("-port %s: %s=%s: descriptor %d is not open for %s", s.Name, what, v, fd, map[bool]string{true: "writing", false: "reading"}[write])
		}
		if fd < len(stdFiles) {
			// Their own *os.File: another would close the descriptor when
			// the garbage collector finalized it.
			return stdFiles[fd], nil
		}
		return os.NewFile(uintptr(fd), v), nil
	}
	if st, err := os.Stat(v); err == nil {
		switch {
		case st.IsDir():
			return nil, fmt.Errorf("-port %s: %s=%s is a directory; give a file", s.Name, what, v)
		case st.Mode()&os.ModeNamedPipe != 0:
			return nil, fmt.Errorf("-port %s: %s=%s is a FIFO; pass it as a descriptor: %s=fd:3 3%sFIFO", s.Name, what, v, what, map[bool]string{true: ">", false: "<"}[write])
		}
	} else if !write || !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("-port %s: %s=%s: %w", s.Name, what, v, unwrapPath(err))
	}
	flags := os.O_RDONLY
	if write {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(v, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("-port %s: %s=%s: %w", s.Name, what, v, unwrapPath(err))
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

// closers closes files, leaving the standard descriptors open.
type closers []*os.File

func (c closers) Close() error {
	var errs []error
	for _, f := range c {
		if f != os.Stdin && f != os.Stdout && f != os.Stderr {
			errs = append(errs, f.Close())
		}
	}
	return errors.Join(errs...)
}
