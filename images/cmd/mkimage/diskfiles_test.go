package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gonest/gonest/internal/diskfiles"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDiskfilesWritesKnownFilesAndSums(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, runDiskfiles([]string{"-o", dir}))
	sumsFile, err := os.Open(filepath.Join(dir, diskfiles.SumsFile))
	require.NoError(t, err)
	defer sumsFile.Close()
	sums, err := diskfiles.ParseSums(sumsFile)
	require.NoError(t, err)
	known := diskfiles.Known()
	require.Len(t, sums, len(known))
	for _, f := range known {
		data, err := os.Open(filepath.Join(dir, filepath.FromSlash(f.Path)))
		require.NoError(t, err)
		assert.NoError(t, f.Check(data))
		data.Close()
		assert.Equal(t, f.Sum(), sums[f.Name()], f.Path)
	}
	// A second run keeps the files (and their timestamps) as they are.
	st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(known[5].Path)))
	require.NoError(t, err)
	require.NoError(t, runDiskfiles([]string{"-o", dir}))
	st2, err := os.Stat(filepath.Join(dir, filepath.FromSlash(known[5].Path)))
	require.NoError(t, err)
	assert.Equal(t, st.ModTime(), st2.ModTime())
}

func TestDiskfilesNeedsDir(t *testing.T) {
	assert.Error(t, runDiskfiles(nil))
	assert.Error(t, runDiskfiles([]string{"-o", "x", "extra"}))
}
