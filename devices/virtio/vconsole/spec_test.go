package vconsole

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestParsePortSpec(t *testing.T) {
	tests := []struct {
		in      string
		want    PortSpec
		wantErr string
	}{
		{in: "log", want: PortSpec{Name: "log"}},
		{in: "cmd.stdout,out=fd:1", want: PortSpec{Name: "cmd.stdout", Out: "fd:1"}},
		{in: "data,in=/tmp/in.bin,out=/tmp/out.bin", want: PortSpec{Name: "data", In: "/tmp/in.bin", Out: "/tmp/out.bin"}},
		{in: "x,out=a,,b", want: PortSpec{Name: "x", Out: "a,b"}},
		{in: "x,in=fd:3", want: PortSpec{Name: "x", In: "fd:3"}},
		{in: "", wantErr: "empty port name"},
		{in: ",out=f", wantErr: "empty port name"},
		{in: "a b", wantErr: "use letters, digits"},
		{in: "a/b", wantErr: "use letters, digits"},
		{in: strings.Repeat("n", 256), wantErr: "longer than 255 bytes"},
		{in: "x,", wantErr: "empty option"},
		{in: "x,out", wantErr: `unknown option "out"`},
		{in: "x,out=", wantErr: `unknown option "out="`},
		{in: "x,rw", wantErr: `unknown option "rw"; options are in=PATH|fd:N and out=PATH|fd:N`},
		{in: "x,out=a,out=b", wantErr: `option "out" given twice`},
		{in: "x,in=fd:", wantErr: "want fd:N"},
		{in: "x,in=fd:-1", wantErr: "want fd:N"},
		{in: "x,out=fd:one", wantErr: "want fd:N"},
		{in: "x,in=fd:0", wantErr: "serial console's input"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePortSpec(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.NotContains(t, err.Error(), "\n")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			again, err := ParsePortSpec(got.String())
			require.NoError(t, err)
			assert.Equal(t, got, again)
		})
	}
}

func TestPortSpecEnds(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	require.NoError(t, os.WriteFile(in, []byte("input"), 0o644))
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, unix.Mkfifo(fifo, 0o644))
	out := filepath.Join(dir, "out")
	require.NoError(t, os.WriteFile(out, []byte("old contents"), 0o644))
	fresh := filepath.Join(dir, "fresh")

	// Nothing is created or truncated before Open.
	spec := PortSpec{Name: "p", In: in, Out: out}
	require.NoError(t, spec.Check())
	cfg, ends := spec.Ends()
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, "old contents", string(got))
	require.NoError(t, ends.Open())
	b, err := io.ReadAll(cfg.In)
	require.NoError(t, err)
	assert.Equal(t, "input", string(b))
	_, err = cfg.Out.Write([]byte("new"))
	require.NoError(t, err)
	require.NoError(t, ends.Close())
	got, err = os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, "new", string(got), "out= truncates, as a shell's > does")
	_, err = cfg.Out.Write([]byte("late"))
	assert.Error(t, err, "a closed end stays closed")

	// A file to create: created by Open, or by the first write.
	require.NoError(t, PortSpec{Name: "p", Out: fresh}.Check())
	assert.NoFileExists(t, fresh)
	cfg, ends = PortSpec{Name: "p", Out: fresh}.Ends()
	_, err = cfg.Out.Write([]byte("x"))
	require.NoError(t, err)
	require.NoError(t, ends.Close())
	assert.FileExists(t, fresh)

	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	inherited, err := unix.Dup(int(r.Fd()))
	require.NoError(t, err)
	cfg, ends = PortSpec{Name: "p", In: "fd:" + strconv.Itoa(inherited), Out: "fd:1"}.Ends()
	require.NoError(t, ends.Open())
	assert.Same(t, os.Stdout, ends.out.f, "fd:1 is os.Stdout itself, never closed by gonest")
	require.NoError(t, ends.Close())
	_, err = unix.FcntlInt(uintptr(inherited), unix.F_GETFD, 0)
	assert.ErrorIs(t, err, unix.EBADF, "an inherited descriptor is gonest's to close")
	_, err = unix.FcntlInt(1, unix.F_GETFD, 0)
	assert.NoError(t, err, "stdout stays open")

	tests := []struct {
		spec PortSpec
		want string
	}{
		{PortSpec{Name: "p", In: filepath.Join(dir, "missing")}, "-port p: in=" + filepath.Join(dir, "missing") + ": no such file or directory"},
		{PortSpec{Name: "p", In: dir}, "is a directory; give a file"},
		{PortSpec{Name: "p", Out: dir}, "is a directory; give a file"},
		{PortSpec{Name: "p", In: fifo}, "is a FIFO; pass it as a descriptor: in=fd:3 3<FIFO"},
		{PortSpec{Name: "p", Out: fifo}, "out=fd:3 3>FIFO"},
		{PortSpec{Name: "p", Out: filepath.Join(dir, "no", "such", "f")}, "directory " + filepath.Join(dir, "no", "such") + " does not exist"},
		{PortSpec{Name: "p", In: "fd:1000"}, "descriptor 1000 is not open; open it in the shell"},
		{PortSpec{Name: "p", Out: "fd:" + strconv.Itoa(int(r.Fd()))}, "is not open for writing"},
		{PortSpec{Name: "p", In: "fd:" + strconv.Itoa(int(w.Fd()))}, "is not open for reading"},
	}
	for _, tt := range tests {
		err := tt.spec.Check()
		require.Error(t, err, tt.spec.String())
		assert.Contains(t, err.Error(), tt.want)
		assert.NotContains(t, err.Error(), "\n")
		_, ends := tt.spec.Ends()
		assert.Equal(t, err, ends.Open(), "Open refuses what Check refuses")
	}
	assert.NoFileExists(t, filepath.Join(dir, "no"))
}
