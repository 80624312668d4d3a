package vconsole

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gonest/gonest/internal/optlist/optlisttest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestParsePortSpec(t *testing.T) {
	optlisttest.Run(t, ParsePortSpec, []optlisttest.Case[PortSpec]{
		{In: "log", Want: PortSpec{Name: "log"}},
		{In: "cmd.stdout,out=fd:1", Want: PortSpec{Name: "cmd.stdout", Out: "fd:1"}},
		{In: "data,in=/tmp/in.bin,out=/tmp/out.bin", Want: PortSpec{Name: "data", In: "/tmp/in.bin", Out: "/tmp/out.bin"}},
		{In: "x,out=a,,b", Want: PortSpec{Name: "x", Out: "a,b"}},
		{In: "x,in=fd:3", Want: PortSpec{Name: "x", In: "fd:3"}},
		{In: "", WantErr: "empty port name"},
		{In: ",out=f", WantErr: "empty port name"},
		{In: "a b", WantErr: "use letters, digits"},
		{In: "a/b", WantErr: "use letters, digits"},
		{In: strings.Repeat("n", 256), WantErr: "longer than 255 bytes"},
		{In: "x,", WantErr: "empty option"},
		{In: "x,out", WantErr: `unknown option "out"`},
		{In: "x,out=", WantErr: `unknown option "out="`},
		{In: "x,rw", WantErr: `unknown option "rw"; options are in=PATH|fd:N and out=PATH|fd:N`},
		{In: "x,out=a,out=b", WantErr: `option "out" given twice`},
		{In: "x,in=fd:", WantErr: "want fd:N"},
		{In: "x,in=fd:-1", WantErr: "want fd:N"},
		{In: "x,out=fd:one", WantErr: "want fd:N"},
		{In: "x,in=fd:0", WantErr: "serial console's input"},
	})
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
