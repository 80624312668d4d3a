package scenario

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestListVMs(t *testing.T) {
	dir := t.TempDir()
	for name, exits := range map[string]string{"118-12": "360619\n", "121-12": "42\n", "130-9": ""} {
		require.NoError(t, os.Mkdir(filepath.Join(dir, name), 0o755))
		if exits != "" {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name, "exits"), []byte(exits), 0o644))
		}
	}
	// Not VMs: KVM's global statistics and odd names.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "exits"), []byte("1\n"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "vcpu0"), 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "12-x"), 0o755))

	vms, err := listVMs(dir)
	require.NoError(t, err)
	assert.Equal(t, []kvmVM{{"118-12", 360619}, {"121-12", 42}, {"130-9", 0}}, vms)

	_, err = listVMs(filepath.Join(dir, "missing"))
	assert.Error(t, err)
}
