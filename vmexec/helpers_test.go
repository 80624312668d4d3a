package vmexec

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/internal/tinyelf"
	"github.com/gonest/gonest/vmexec/vmexectest"
)

// fakeBzImage, fakeModules, debianModules and writeTestFile are
// package vmexectest's.
var (
	fakeBzImage   = vmexectest.BzImage
	debianModules = vmexectest.DebianModules
)

func fakeModules(t *testing.T, root, release string, dep map[string]string, builtin ...string) string {
	t.Helper()
	return vmexectest.Modules(t, root, release, dep, builtin...)
}

func writeTestFile(t *testing.T, path, data string) {
	t.Helper()
	vmexectest.WriteFile(t, path, data)
}

// staticInit writes a statically linked ELF (no PT_INTERP) to stand for
// gonest's binary.
func staticInit(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "gonest")
	require.NoError(t, os.WriteFile(p, tinyelf.Build([]byte{0xf4}), 0o755))
	return p
}

// dynamicInit writes an ELF that asks for a dynamic loader.
func dynamicInit(t *testing.T, dir string) string {
	t.Helper()
	b := tinyelf.Build([]byte{0xf4})
	binary.LittleEndian.PutUint32(b[64:], 3) // the first program header's p_type: PT_INTERP
	p := filepath.Join(dir, "gonest-dynamic")
	require.NoError(t, os.WriteFile(p, b, 0o755))
	return p
}
