package labtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFindNamesTheMissingImage(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{KernelFile, HInitrd, G1Initrd} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), nil, 0o644))
	}
	_, err := Find(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), G2Initrd)
	assert.Contains(t, err.Error(), "lab image missing")
}
