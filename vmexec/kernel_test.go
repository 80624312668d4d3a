package vmexec

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKernelRelease(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string
		ok   bool
	}{
		{"debian", fakeBzImage("6.1.0-57-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3"), "6.1.0-57-amd64", true},
		{"bare", fakeBzImage("6.12.0"), "6.12.0", true},
		{"no magic", make([]byte, 0x1000), "", false},
		{"no version pointer", func() []byte { b := fakeBzImage("x"); b[hdrKernelVersion], b[hdrKernelVersion+1] = 0, 0; return b }(), "", false},
		{"slash in it", fakeBzImage("../../etc x"), "", false},
		{"short", []byte("MZ"), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := kernelRelease(bytes.NewReader(tt.data))
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

// kernelWorld is a host with /boot, /lib/modules and an images/out.
type kernelWorld struct {
	root, boot, mods, images string
}

func newKernelWorld(t *testing.T) kernelWorld {
	t.Helper()
	root := t.TempDir()
	w := kernelWorld{root: root, boot: filepath.Join(root, "boot"), mods: filepath.Join(root, "lib/modules"),
		images: filepath.Join(root, "repo/images/out")}
	writeTestFile(t, filepath.Join(w.boot, "vmlinuz-6.1.0-57-amd64"), string(fakeBzImage("6.1.0-57-amd64 #1")))
	fakeModules(t, w.mods, "6.1.0-57-amd64", map[string]string{"kernel/fs/overlayfs/overlay.ko": ""})
	writeTestFile(t, filepath.Join(w.images, "vmlinuz"), string(fakeBzImage("6.1.0-50-amd64 #1")))
	fakeModules(t, filepath.Join(w.images, "modules"), "6.1.0-50-amd64", map[string]string{"kernel/fs/overlayfs/overlay.ko": ""})
	return w
}

func (w kernelWorld) places(release string) kernelPlaces {
	return kernelPlaces{release: release, bootDir: w.boot, modulesRoot: w.mods,
		imageDirs: []string{filepath.Join(w.root, "nowhere/images/out"), w.images}}
}

func TestFindKernel(t *testing.T) {
	w := newKernelWorld(t)
	host := filepath.Join(w.boot, "vmlinuz-6.1.0-57-amd64")

	k, err := findKernel("", "", w.places("6.1.0-57-amd64"))
	require.NoError(t, err)
	assert.Equal(t, Kernel{Path: host, Modules: filepath.Join(w.mods, "6.1.0-57-amd64"), Release: "6.1.0-57-amd64",
		Source: "the host's running kernel"}, k)

	// A running kernel without its files here: the images' kernel.
	k, err = findKernel("", "", w.places("6.8.0-1-generic"))
	require.NoError(t, err)
	assert.Equal(t, Kernel{Path: filepath.Join(w.images, "vmlinuz"), Modules: filepath.Join(w.images, "modules/6.1.0-50-amd64"),
		Release: "6.1.0-50-amd64", Source: "the kernel make images fetched"}, k)

	// -kernel alone, installed here: its modules are found by release.
	k, err = findKernel(host, "", w.places("other"))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(w.mods, "6.1.0-57-amd64"), k.Modules)
	assert.Equal(t, "-kernel", k.Source)

	k, err = findKernel(filepath.Join(w.images, "vmlinuz"), filepath.Join(w.images, "modules/6.1.0-50-amd64"), w.places("x"))
	require.NoError(t, err)
	assert.Equal(t, "6.1.0-50-amd64", k.Release)
}

func TestFindKernelRefuses(t *testing.T) {
	w := newKernelWorld(t)
	host := filepath.Join(w.boot, "vmlinuz-6.1.0-57-amd64")
	empty := kernelPlaces{release: "6.8.0-1-generic", bootDir: w.boot, modulesRoot: w.mods}
	tests := []struct {
		name, kernel, modules string
		places                kernelPlaces
		want                  string
	}{
		{"missing kernel", filepath.Join(w.root, "nope"), "", empty, "-kernel " + filepath.Join(w.root, "nope") + " does not exist"},
		{"kernel is a directory", w.boot, "", empty, "is not a regular file"},
		{"modules without kernel", "", w.mods, empty, "-modules " + w.mods + " needs -kernel"},
		{"missing modules dir", host, filepath.Join(w.root, "mods"), empty, "-modules " + filepath.Join(w.root, "mods") + " does not exist"},
		{"modules of another release", host, filepath.Join(w.images, "modules/6.1.0-50-amd64"), empty,
			"is for release 6.1.0-50-amd64, but -kernel " + host + " is 6.1.0-57-amd64"},
		{"kernel not installed, no -modules", filepath.Join(w.images, "vmlinuz"), "", empty, "needs -modules DIR"},
		{"nothing anywhere", "", "", empty,
			"no kernel to boot: the host's kernel " + filepath.Join(w.boot, "vmlinuz-6.8.0-1-generic") + " does not exist, and no kernel from make images"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := findKernel(tt.kernel, tt.modules, tt.places)
			require.Error(t, err)
			assert.True(t, IsUsageError(err))
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

func TestFindKernelUnreadableHostKernel(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root reads a 0600 file anyway; this case needs an unprivileged user")
	}
	w := newKernelWorld(t)
	require.NoError(t, os.Chmod(filepath.Join(w.boot, "vmlinuz-6.1.0-57-amd64"), 0))
	_, err := findKernel("", "", kernelPlaces{release: "6.1.0-57-amd64", bootDir: w.boot, modulesRoot: w.mods})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is not readable by this user")
	assert.Contains(t, err.Error(), "sudo chmod 0644 /boot/vmlinuz-*")
}
