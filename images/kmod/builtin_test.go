package kmod

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/images/kmod/kmodtest"
)

// cloudLikeTree writes a module tree shaped like Debian 6.12's cloud
// flavour: KVM and virtio_blk are modules; virtio_pci, ext4 and its
// helpers are built in, as modules.builtin and modules.builtin.modinfo
// say.
func cloudLikeTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	mods := map[string][]string{
		"kernel/virt/lib/irqbypass.ko":           {"name=irqbypass"},
		"kernel/arch/x86/kvm/kvm.ko":             {"name=kvm", "depends=irqbypass"},
		"kernel/drivers/crypto/ccp/ccp.ko":       {"name=ccp"},
		"kernel/arch/x86/kvm/kvm-amd.ko":         {"name=kvm_amd", "depends=kvm,ccp"},
		"kernel/drivers/block/virtio_blk.ko":     {"name=virtio_blk", "depends=virtio,virtio_ring"},
		"kernel/arch/x86/crypto/crc32c-intel.ko": {"name=crc32c_intel", "alias=crypto-crc32c"},
		"kernel/fs/btrfs/btrfs.ko":               {"name=btrfs", "softdep=pre: crypto-crc32c"},
	}
	files := map[string][]byte{
		BuiltinFile: []byte(strings.Join([]string{
			"kernel/drivers/virtio/virtio.ko",
			"kernel/drivers/virtio/virtio_ring.ko",
			"kernel/drivers/virtio/virtio_pci.ko",
			"kernel/fs/mbcache.ko",
			"kernel/fs/jbd2/jbd2.ko",
			"kernel/fs/ext4/ext4.ko",
			"kernel/crypto/crc32c_generic.ko",
			"",
		}, "\n")),
		BuiltinModinfoFile: kmodtest.BuiltinModinfo("ext4.alias=fs-ext4", "ext4.license=GPL",
			"crc32c_generic.alias=crypto-crc32c", "virtio_pci.description=virtio-pci",
			"not_listed.alias=ghost"),
	}
	for rel, fields := range mods {
		files[rel] = kmodtest.ModuleELF(t, fields...)
	}
	kmodtest.WriteFiles(t, dir, files)
	return dir
}

func TestBuiltinModulesAreSkipped(t *testing.T) {
	ix, err := ScanTree(cloudLikeTree(t), nil)
	require.NoError(t, err)
	assert.Equal(t, 7, ix.BuiltinCount())
	for _, name := range []string{"virtio_pci", "virtio-pci", "ext4", "fs-ext4", "jbd2", "crypto-crc32c"} {
		assert.True(t, ix.Builtin(name), "%s is built in", name)
	}
	for _, name := range []string{"kvm_amd", "virtio_blk", "ghost", "not_listed"} {
		assert.False(t, ix.Builtin(name), "%s is not built in", name)
	}

	tests := []struct {
		name   string
		wanted []string
		want   []string
	}{
		{"the guest's list", []string{"kvm_amd", "virtio_pci", "virtio_blk", "ext4"},
			[]string{"irqbypass", "kvm", "ccp", "kvm_amd", "virtio_blk"}},
		{"by alias", []string{"fs-ext4"}, nil},
		{"soft dependency on an alias both built in and a module", []string{"btrfs"},
			[]string{"crc32c_intel?", "btrfs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ix.Closure(tt.wanted)
			require.NoError(t, err)
			assert.Equal(t, tt.want, names(got))
			require.NoError(t, ix.CheckWanted(tt.wanted, nil))
		})
	}
}

// The guest's copy of the tree keeps the built-in list, and resolves the
// same load order from it.
func TestBuiltinListTravelsWithTheTree(t *testing.T) {
	src := cloudLikeTree(t)
	ix, err := ScanTree(src, nil)
	require.NoError(t, err)
	wanted := []string{"kvm_amd", "virtio_pci", "virtio_blk", "ext4"}
	mods, err := ix.Closure(wanted)
	require.NoError(t, err)
	dst := t.TempDir()
	require.NoError(t, ix.WriteTree(src, dst, mods, nil))

	list, err := os.ReadFile(filepath.Join(dst, BuiltinFile))
	require.NoError(t, err)
	assert.Equal(t, "kernel/crypto/crc32c_generic.ko\nkernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_pci.ko\n"+
		"kernel/drivers/virtio/virtio_ring.ko\nkernel/fs/ext4/ext4.ko\nkernel/fs/jbd2/jbd2.ko\nkernel/fs/mbcache.ko\n", string(list))

	guest, err := LoadDir(dst)
	require.NoError(t, err)
	assert.True(t, guest.Builtin("virtio_pci"))
	got, err := guest.Closure(wanted)
	require.NoError(t, err)
	assert.Equal(t, names(mods), names(got))
}

func TestReadBuiltinRejectsBadPaths(t *testing.T) {
	for _, text := range []string{"/kernel/x.ko\n", "../x.ko\n", "kernel/x.txt\n"} {
		err := NewIndex().ReadBuiltin(strings.NewReader(text))
		require.Error(t, err, "%q", text)
		assert.Contains(t, err.Error(), "modules.builtin line 1: bad module path")
	}
}

func TestReadConfig(t *testing.T) {
	c, err := ReadConfig(strings.NewReader(strings.Join([]string{
		"#",
		"# Automatically generated file; DO NOT EDIT.",
		"CONFIG_KVM=m",
		"# CONFIG_KVM_AMD is not set",
		"CONFIG_EXT4_FS=y",
		`CONFIG_LOCALVERSION=""`,
		"CONFIG_NR_CPUS=8192",
		"not a config line",
	}, "\n")))
	require.NoError(t, err)
	assert.Equal(t, Config{"CONFIG_KVM": "m", "CONFIG_EXT4_FS": "y", "CONFIG_LOCALVERSION": `""`, "CONFIG_NR_CPUS": "8192"}, c)
}

// A wanted module that is neither a module nor built in stops the images
// with one line naming the option the kernel lacks.
func TestCheckWantedNamesTheMissingOption(t *testing.T) {
	ix, err := ScanTree(cloudLikeTree(t), nil)
	require.NoError(t, err)
	tests := []struct {
		name   string
		wanted []string
		config Config
		want   string
	}{
		{"option not set", []string{"virtio_blk", "kvm_intel"}, Config{"CONFIG_KVM": "m"},
			"this kernel has no kvm_intel (CONFIG_KVM_INTEL is not set: neither a module nor built in); use a kernel built with CONFIG_KVM_INTEL=m or CONFIG_KVM_INTEL=y"},
		{"no KVM at all", []string{"kvm-intel"}, Config{},
			"this kernel has no kvm-intel (CONFIG_KVM is not set: neither a module nor built in); use a kernel built with CONFIG_KVM=m or CONFIG_KVM=y"},
		{"no config at hand", []string{"kvm_intel"}, nil,
			"this kernel has no kvm_intel, neither a module nor built in; use a kernel built with CONFIG_KVM_INTEL=m or CONFIG_KVM_INTEL=y"},
		{"config says it is there", []string{"kvm_intel"}, Config{"CONFIG_KVM": "m", "CONFIG_KVM_INTEL": "m"},
			"this kernel's config has CONFIG_KVM_INTEL=m but no module kvm_intel is in the package and none is built in; is the package complete?"},
		{"a module gonest knows no option for", []string{"nosuch"}, Config{},
			"this kernel has no module nosuch and none built in; check the name, or use a kernel that has it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ix.CheckWanted(tt.wanted, tt.config)
			var me *MissingError
			require.ErrorAs(t, err, &me)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

func TestWriteBuiltinEmpty(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, NewIndex().WriteBuiltin(&b))
	assert.Empty(t, b.String())
}
