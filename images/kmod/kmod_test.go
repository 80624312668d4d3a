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

// moduleELF is kmodtest.ModuleELF.
func moduleELF(t *testing.T, fields ...string) []byte { return kmodtest.ModuleELF(t, fields...) }

func TestReadModInfo(t *testing.T) {
	data := moduleELF(t, "license=GPL", "softdep=pre: crypto-crc32c post: foo", "depends=jbd2,mbcache,crc16",
		"alias=fs-ext4", "alias=ext3", "intree=Y", "name=ext4")
	mi, err := ReadModInfo(bytes.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, ModInfo{
		Name:    "ext4",
		Depends: []string{"jbd2", "mbcache", "crc16"},
		SoftPre: []string{"crypto-crc32c"},
		Aliases: []string{"fs-ext4", "ext3"},
	}, mi)
}

func TestReadModInfoErrors(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"not ELF", []byte("hello, world, this is no ELF file at all......................................"), "read module ELF"},
		{"no name", moduleELF(t, "depends=kvm"), "no name= field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadModInfo(bytes.NewReader(tt.data))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestNormalizeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"kvm-amd", "kvm_amd"},
		{"kvm_amd", "kvm_amd"},
		{"kernel/arch/x86/kvm/kvm-amd.ko", "kvm_amd"},
		{"crc32c-intel.ko.xz", "crc32c_intel"},
		{"virtio_blk.ko.zst", "virtio_blk"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, NormalizeName(tt.in))
		})
	}
}

// debianLike is a small copy of Debian 6.1's module graph.
func debianLike(t *testing.T) *Index {
	t.Helper()
	ix := NewIndex()
	for _, m := range []Module{
		{Name: "irqbypass", Path: "kernel/virt/lib/irqbypass.ko"},
		{Name: "kvm", Path: "kernel/arch/x86/kvm/kvm.ko", Depends: []string{"irqbypass"}},
		{Name: "ccp", Path: "kernel/drivers/crypto/ccp/ccp.ko"},
		{Name: "kvm_amd", Path: "kernel/arch/x86/kvm/kvm-amd.ko", Depends: []string{"kvm", "ccp"}},
		{Name: "kvm_intel", Path: "kernel/arch/x86/kvm/kvm-intel.ko", Depends: []string{"kvm"}},
		{Name: "crc16", Path: "kernel/lib/crc16.ko"},
		{Name: "mbcache", Path: "kernel/fs/mbcache.ko"},
		{Name: "jbd2", Path: "kernel/fs/jbd2/jbd2.ko", SoftPre: []string{"crypto-crc32c"}},
		{Name: "ext4", Path: "kernel/fs/ext4/ext4.ko", Depends: []string{"jbd2", "mbcache", "crc16"},
			SoftPre: []string{"crypto-crc32c"}, Aliases: []string{"fs-ext4"}},
		{Name: "crc32c_generic", Path: "kernel/crypto/crc32c_generic.ko", Aliases: []string{"crypto-crc32c"}},
		{Name: "crc32c_intel", Path: "kernel/arch/x86/crypto/crc32c-intel.ko", Aliases: []string{"crypto-crc32c"}},
		{Name: "unrelated", Path: "kernel/drivers/unrelated.ko", Depends: []string{"kvm"}},
	} {
		require.NoError(t, ix.Add(m))
	}
	return ix
}

func names(mods []Module) []string {
	var out []string
	for _, m := range mods {
		name := m.Name
		if m.Optional {
			name += "?"
		}
		out = append(out, name)
	}
	return out
}

func TestClosure(t *testing.T) {
	tests := []struct {
		name   string
		wanted []string
		want   []string // load order; "?" marks Optional
	}{
		{"kvm_amd", []string{"kvm-amd"}, []string{"irqbypass", "kvm", "ccp", "kvm_amd"}},
		{"both vendors share kvm", []string{"kvm_amd", "kvm_intel"}, []string{"irqbypass", "kvm", "ccp", "kvm_amd", "kvm_intel"}},
		{"ext4 with soft deps through an alias", []string{"ext4"},
			[]string{"crc32c_generic?", "crc32c_intel?", "jbd2", "mbcache", "crc16", "ext4"}},
		{"by alias", []string{"fs-ext4"},
			[]string{"crc32c_generic?", "crc32c_intel?", "jbd2", "mbcache", "crc16", "ext4"}},
		{"soft dep also wanted is required", []string{"crc32c_generic", "jbd2"},
			[]string{"crc32c_generic", "crc32c_intel?", "jbd2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := debianLike(t).Closure(tt.wanted)
			require.NoError(t, err)
			assert.Equal(t, tt.want, names(got))
		})
	}
}

func TestClosureErrors(t *testing.T) {
	ix := debianLike(t)
	require.NoError(t, ix.Add(Module{Name: "broken", Path: "kernel/broken.ko", Depends: []string{"ghost"}}))
	require.NoError(t, ix.Add(Module{Name: "a", Path: "kernel/a.ko", Depends: []string{"b"}}))
	require.NoError(t, ix.Add(Module{Name: "b", Path: "kernel/b.ko", Depends: []string{"a"}}))
	tests := []struct {
		wanted string
		want   string
	}{
		{"nosuch", "no module named nosuch"},
		{"broken", "module broken needs ghost, which is not in the module tree"},
		{"a", "cycle"},
	}
	for _, tt := range tests {
		t.Run(tt.wanted, func(t *testing.T) {
			_, err := ix.Closure([]string{tt.wanted})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestAddRejectsDuplicates(t *testing.T) {
	ix := debianLike(t)
	err := ix.Add(Module{Name: "kvm", Path: "kernel/other/kvm.ko"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "both kernel/arch/x86/kvm/kvm.ko and kernel/other/kvm.ko")
}

func TestWriteDepAndSoftdep(t *testing.T) {
	ix := debianLike(t)
	mods, err := ix.Closure([]string{"kvm_amd", "ext4"})
	require.NoError(t, err)

	var dep, soft bytes.Buffer
	require.NoError(t, ix.WriteDep(&dep, mods))
	require.NoError(t, ix.WriteSoftdep(&soft, mods))
	assert.Equal(t, strings.Join([]string{
		"kernel/virt/lib/irqbypass.ko:",
		"kernel/arch/x86/kvm/kvm.ko: kernel/virt/lib/irqbypass.ko",
		"kernel/drivers/crypto/ccp/ccp.ko:",
		"kernel/arch/x86/kvm/kvm-amd.ko: kernel/drivers/crypto/ccp/ccp.ko kernel/arch/x86/kvm/kvm.ko kernel/virt/lib/irqbypass.ko",
		"kernel/crypto/crc32c_generic.ko:",
		"kernel/arch/x86/crypto/crc32c-intel.ko:",
		"kernel/fs/jbd2/jbd2.ko:",
		"kernel/fs/mbcache.ko:",
		"kernel/lib/crc16.ko:",
		"kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko",
		"",
	}, "\n"), dep.String())
	assert.Equal(t, "softdep jbd2 pre: crc32c_generic crc32c_intel\nsoftdep ext4 pre: crc32c_generic crc32c_intel\n", soft.String())

	// Read back, the guest's index gives the same load order.
	back := NewIndex()
	require.NoError(t, back.ReadDep(&dep))
	require.NoError(t, back.ReadSoftdep(&soft))
	got, err := back.Closure([]string{"kvm_amd", "ext4"})
	require.NoError(t, err)
	assert.Equal(t, names(mods), names(got))
}

func TestReadDepRejects(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"no colon", "kernel/kvm.ko\n", "no ':'"},
		{"absolute", "/kernel/kvm.ko:\n", "bad module path"},
		{"escapes", "../../etc/passwd.ko:\n", "bad module path"},
		{"not clean", "kernel/../../x.ko:\n", "bad module path"},
		{"not a module", "kernel/kvm.txt:\n", "bad module path"},
		{"duplicate", "kernel/a/kvm.ko:\nkernel/b/kvm.ko:\n", "line 2: module kvm is both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := NewIndex().ReadDep(strings.NewReader(tt.text))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestReadSoftdepRejectsOtherCommands(t *testing.T) {
	ix := debianLike(t)
	err := ix.ReadSoftdep(strings.NewReader("# comment\n\noptions kvm_amd nested=1\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "line 3")
}

func TestScanWriteLoadTree(t *testing.T) {
	src := t.TempDir()
	files := map[string][]string{
		"kernel/virt/lib/irqbypass.ko":           {"name=irqbypass", "depends="},
		"kernel/arch/x86/kvm/kvm.ko":             {"name=kvm", "depends=irqbypass"},
		"kernel/drivers/crypto/ccp/ccp.ko":       {"name=ccp", "depends="},
		"kernel/arch/x86/kvm/kvm-amd.ko":         {"name=kvm_amd", "depends=kvm,ccp"},
		"kernel/fs/jbd2/jbd2.ko":                 {"name=jbd2", "softdep=pre: crypto-crc32c"},
		"kernel/crypto/crc32c_generic.ko":        {"name=crc32c_generic", "alias=crypto-crc32c"},
		"kernel/drivers/net/not-wanted.ko":       {"name=not_wanted"},
		"kernel/arch/x86/crypto/crc32c-intel.ko": {"name=crc32c_intel", "alias=crypto-crc32c"},
	}
	for rel, fields := range files {
		p := filepath.Join(src, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, moduleELF(t, fields...), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(src, "modules.order"), []byte("x\n"), 0o644))

	ix, err := ScanTree(src, nil)
	require.NoError(t, err)
	assert.Equal(t, len(files), ix.Len())
	mods, err := ix.Closure([]string{"kvm_amd", "jbd2"})
	require.NoError(t, err)

	dst := t.TempDir()
	require.NoError(t, ix.WriteTree(src, dst, mods, nil))
	_, err = os.Stat(filepath.Join(dst, "kernel/drivers/net/not-wanted.ko"))
	assert.True(t, os.IsNotExist(err), "unwanted module copied: %v", err)
	copied, err := os.ReadFile(filepath.Join(dst, "kernel/arch/x86/kvm/kvm-amd.ko"))
	require.NoError(t, err)
	assert.Equal(t, moduleELF(t, files["kernel/arch/x86/kvm/kvm-amd.ko"]...), copied)

	guest, err := LoadDir(dst)
	require.NoError(t, err)
	got, err := guest.Closure([]string{"kvm_amd", "jbd2"})
	require.NoError(t, err)
	assert.Equal(t, []string{"irqbypass", "kvm", "ccp", "kvm_amd", "crc32c_generic?", "crc32c_intel?", "jbd2"}, names(got))
}

func TestScanTreeEmpty(t *testing.T) {
	_, err := ScanTree(t.TempDir(), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no *.ko files")
}

func FuzzReadDep(f *testing.F) {
	f.Add("kernel/a.ko: kernel/b.ko\nkernel/b.ko:\n")
	f.Add("softdep a pre: b\n")
	f.Fuzz(func(t *testing.T, text string) {
		ix := NewIndex()
		if err := ix.ReadDep(strings.NewReader(text)); err != nil {
			return
		}
		_ = ix.ReadSoftdep(strings.NewReader(text))
		for name := range ix.modules {
			_, _ = ix.Closure([]string{name})
		}
	})
}
