package main

import (
	"strings"
	"testing"

	"github.com/gonest/gonest/images/kmod"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A name ending in "?" is kept when the kernel has it, as a module or built
// in, and dropped when it has neither; plain names are always kept, so that
// the build still stops on a missing one.
func TestOptionalModules(t *testing.T) {
	ix := kmod.NewIndex()
	require.NoError(t, ix.Add(kmod.Module{Name: "overlay", Path: "kernel/fs/overlayfs/overlay.ko"}))
	require.NoError(t, ix.ReadBuiltin(strings.NewReader("kernel/fs/fuse/virtiofs.ko\n")))
	got := optionalModules(ix, []string{"ext4", "overlay?", "virtiofs?", "9p?", "9pnet_virtio?"})
	assert.Equal(t, []string{"ext4", "overlay", "virtiofs"}, got)
}
