package vmexec

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/images/cpio"
	"github.com/gonest/gonest/images/kmod/kmodtest"
	"github.com/gonest/gonest/vmexec/job"
)

func TestResolveModules(t *testing.T) {
	root := t.TempDir()
	dir := fakeModules(t, root, "6.1.0-57-amd64", debianModules)
	set, err := resolveModules(dir, "6.1.0-57-amd64", RequiredModules, []string{"kvm_amd", "no_such_module"}, []string{"9p"})
	require.NoError(t, err)
	names := set.names
	for _, want := range []string{"virtio", "virtio_ring", "virtio_pci", "virtio_console", "fuse", "virtiofs", "overlay", "irqbypass", "kvm", "ccp", "kvm_amd"} {
		assert.Contains(t, names, want)
	}
	assert.Less(t, indexOf(names, "fuse"), indexOf(names, "virtiofs"), "dependencies first")
	assert.Less(t, indexOf(names, "kvm"), indexOf(names, "kvm_amd"))
	assert.NotContains(t, names, "virtio_blk", "only what is needed")
	assert.Contains(t, names, "9pnet")
	list := string(set.list)
	assert.Contains(t, list, "base fuse kernel/fs/fuse/fuse.ko\nbase virtiofs kernel/fs/fuse/virtiofs.ko\n")
	assert.Contains(t, list, "kvm kvm_amd kernel/arch/x86/kvm/kvm-amd.ko\n")
	assert.Contains(t, list, "extra 9p kernel/fs/9p/9p.ko\n")
	assert.Equal(t, len(names), len(set.files), "each module packed once")
}

// A distro whose modules are compressed (Ubuntu's .ko.zst, Fedora's
// .ko.xz): packed as they are, listed by their real names; the guest's
// kernel decompresses them.
func TestResolveModulesCompressed(t *testing.T) {
	root := t.TempDir()
	dep := map[string]string{}
	for path, deps := range debianModules {
		dep[strings.TrimSuffix(path, ".ko")+".ko.zst"] = strings.ReplaceAll(deps, ".ko", ".ko.zst")
	}
	dir := fakeModules(t, root, "6.8.0-51-generic", dep)
	set, err := resolveModules(dir, "6.8.0-51-generic", RequiredModules, nil, nil)
	require.NoError(t, err)
	assert.Contains(t, set.files, "kernel/fs/fuse/virtiofs.ko.zst")
	assert.Contains(t, string(set.list), "base virtiofs kernel/fs/fuse/virtiofs.ko.zst\n")
	assert.NotContains(t, string(set.list), ".ko\n", "every file by its real name")
}

// A kernel package unpacked by hand has no modules.dep: the modules are
// indexed from their .modinfo, read through the decompressor, and packed
// under their real (compressed) names.
func TestResolveModulesScannedCompressed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "6.12.9-generic")
	mods := map[string][]string{
		"kernel/drivers/virtio/virtio.ko":       {"name=virtio"},
		"kernel/drivers/virtio/virtio_pci.ko":   {"name=virtio_pci", "depends=virtio"},
		"kernel/drivers/char/virtio_console.ko": {"name=virtio_console", "depends=virtio"},
		"kernel/fs/fuse/fuse.ko":                {"name=fuse"},
		"kernel/fs/fuse/virtiofs.ko":            {"name=virtiofs", "depends=fuse,virtio"},
		"kernel/fs/overlayfs/overlay.ko":        {"name=overlay"},
	}
	files := map[string][]byte{}
	for p, fields := range mods {
		var b bytes.Buffer
		w, err := zstd.NewWriter(&b)
		require.NoError(t, err)
		_, err = w.Write(kmodtest.ModuleELF(t, fields...))
		require.NoError(t, err)
		require.NoError(t, w.Close())
		files[p+".zst"] = b.Bytes()
	}
	kmodtest.WriteFiles(t, dir, files)
	set, err := resolveModules(dir, "6.12.9-generic", RequiredModules, nil, nil)
	require.NoError(t, err)
	assert.Contains(t, set.files, "kernel/fs/fuse/virtiofs.ko.zst")
	assert.Contains(t, string(set.list), "base fuse kernel/fs/fuse/fuse.ko.zst\nbase virtiofs kernel/fs/fuse/virtiofs.ko.zst\n")
	assert.Len(t, set.files, len(mods))
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// A kernel with the virtio drivers built in (Debian's cloud flavour,
// 6.12's virtio_pci) needs only the modules it lacks.
func TestResolveModulesBuiltIn(t *testing.T) {
	root := t.TempDir()
	dir := fakeModules(t, root, "6.12.0-cloud", map[string]string{"kernel/fs/overlayfs/overlay.ko": ""},
		"kernel/drivers/virtio/virtio_pci.ko", "kernel/drivers/char/virtio_console.ko", "kernel/fs/fuse/virtiofs.ko", "kernel/fs/fuse/fuse.ko")
	set, err := resolveModules(dir, "6.12.0-cloud", RequiredModules, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"overlay"}, set.names)
	assert.Equal(t, "base overlay kernel/fs/overlayfs/overlay.ko\n", string(set.list))
	assert.Contains(t, string(set.builtin), "kernel/fs/fuse/virtiofs.ko")
}

func TestResolveModulesNamesWhatIsMissing(t *testing.T) {
	root := t.TempDir()
	dir := fakeModules(t, root, "6.1.0-57-amd64", map[string]string{
		"kernel/drivers/virtio/virtio.ko": "", "kernel/drivers/virtio/virtio_pci.ko": " kernel/drivers/virtio/virtio.ko",
	})
	_, err := resolveModules(dir, "6.1.0-57-amd64", RequiredModules, nil, nil)
	require.Error(t, err)
	assert.True(t, IsUsageError(err))
	assert.Contains(t, err.Error(), dir+" lacks modules gonest exec needs: virtio_console, virtiofs, overlay")

	_, err = resolveModules(filepath.Join(root, "empty"), "x", RequiredModules, nil, nil)
	require.Error(t, err)
	assert.True(t, IsUsageError(err))
}

// testInitramfs builds an initramfs spec from fake files.
func testInitramfs(t *testing.T) (*initramfs, string) {
	t.Helper()
	root := t.TempDir()
	dir := fakeModules(t, root, "6.1.0-57-amd64", debianModules)
	set, err := resolveModules(dir, "6.1.0-57-amd64", RequiredModules, []string{"kvm_amd"}, nil)
	require.NoError(t, err)
	return &initramfs{init: staticInit(t, root), mods: set}, root
}

func readArchive(t *testing.T, path string) map[string]cpio.Entry {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r := cpio.NewReader(f, 64<<20)
	out := map[string]cpio.Entry{}
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out[e.Name] = e
	}
}

func TestInitramfsContents(t *testing.T) {
	ir, root := testInitramfs(t)
	cache := filepath.Join(root, "cache")
	path, cached, err := ir.buildCached(cache)
	require.NoError(t, err)
	assert.False(t, cached)
	entries := readArchive(t, path)

	init, ok := entries["init"]
	require.True(t, ok, "/init")
	want, err := os.ReadFile(ir.init)
	require.NoError(t, err)
	assert.Equal(t, want, init.Data, "/init is gonest's binary, byte for byte")
	assert.Equal(t, uint32(cpio.ModeRegular|0o755), init.Mode)

	console := entries["dev/console"]
	assert.Equal(t, uint32(cpio.ModeCharDev|0o600), console.Mode)
	assert.Equal(t, [2]uint32{5, 1}, [2]uint32{console.RdevMajor, console.RdevMinor})

	mods := "lib/modules/6.1.0-57-amd64/"
	for _, m := range []string{"kernel/fs/fuse/virtiofs.ko", "kernel/fs/fuse/fuse.ko", "kernel/drivers/char/virtio_console.ko",
		"kernel/fs/overlayfs/overlay.ko", "kernel/arch/x86/kvm/kvm-amd.ko", job.ModuleList, "modules.builtin"} {
		_, ok := entries[mods+m]
		assert.True(t, ok, "%s in the archive", m)
	}
	assert.Equal(t, "module kernel/fs/fuse/virtiofs.ko", string(entries[mods+"kernel/fs/fuse/virtiofs.ko"].Data))
	_, ok = entries[mods+"kernel/drivers/block/virtio_blk.ko"]
	assert.False(t, ok, "no module the guest does not load")
	for _, d := range []string{"dev", "proc", "sys", "tmp", "run"} {
		assert.Equal(t, uint32(cpio.ModeDir|0o755), entries[d].Mode, d)
	}
}

func TestInitramfsCache(t *testing.T) {
	ir, root := testInitramfs(t)
	cache := filepath.Join(root, "cache")
	first, cached, err := ir.buildCached(cache)
	require.NoError(t, err)
	assert.False(t, cached)
	again, cached, err := ir.buildCached(cache)
	require.NoError(t, err)
	assert.True(t, cached, "the same inputs: the cached archive")
	assert.Equal(t, first, again)

	// New contents, same size: the key follows the content, not the name.
	ko := filepath.Join(ir.mods.dir, "kernel/fs/overlayfs/overlay.ko")
	old, err := os.ReadFile(ko)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(ko, bytes.ToUpper(old), 0o644))
	changed, cached, err := ir.buildCached(cache)
	require.NoError(t, err)
	assert.False(t, cached)
	assert.NotEqual(t, first, changed)

	// Back to the old contents: the first archive again.
	require.NoError(t, os.WriteFile(ko, old, 0o644))
	back, cached, err := ir.buildCached(cache)
	require.NoError(t, err)
	assert.True(t, cached)
	assert.Equal(t, first, back)

	leftovers, err := filepath.Glob(filepath.Join(cache, ".initramfs-*"))
	require.NoError(t, err)
	assert.Empty(t, leftovers, "no temporary file left behind")
}

func TestInitramfsCachePrunes(t *testing.T) {
	ir, root := testInitramfs(t)
	cache := filepath.Join(root, "cache")
	require.NoError(t, os.MkdirAll(cache, 0o700))
	old := time.Now().Add(-time.Hour)
	for i := range keepArchives + 3 {
		p := filepath.Join(cache, "initramfs-"+strings.Repeat(string(rune('a'+i)), 32)+".cpio")
		require.NoError(t, os.WriteFile(p, nil, 0o600))
		require.NoError(t, os.Chtimes(p, old.Add(time.Duration(i)*time.Minute), old.Add(time.Duration(i)*time.Minute)))
	}
	path, _, err := ir.buildCached(cache)
	require.NoError(t, err)
	names, err := filepath.Glob(filepath.Join(cache, "initramfs-*.cpio"))
	require.NoError(t, err)
	assert.Len(t, names, keepArchives)
	assert.Contains(t, names, path)
	_, err = os.Stat(filepath.Join(cache, "initramfs-"+strings.Repeat("a", 32)+".cpio"))
	assert.ErrorIs(t, err, os.ErrNotExist, "the least recently used went first")
}

func TestHashCacheRemembers(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(f, []byte("one"), 0o644))
	c := &hashCache{dir: filepath.Join(dir, "memo")}
	a, err := c.file(f)
	require.NoError(t, err)
	b, err := c.file(f)
	require.NoError(t, err)
	assert.Equal(t, a, b)
	require.NoError(t, os.WriteFile(f, []byte("two"), 0o644))
	d, err := c.file(f)
	require.NoError(t, err)
	assert.NotEqual(t, a, d, "a rewritten file is hashed again")
}

func TestCheckStatic(t *testing.T) {
	dir := t.TempDir()
	assert.NoError(t, checkStatic(staticInit(t, dir)))
	err := checkStatic(dynamicInit(t, dir))
	require.Error(t, err)
	assert.True(t, IsUsageError(err))
	assert.Contains(t, err.Error(), "CGO_ENABLED=0")
	assert.Error(t, checkStatic(filepath.Join(dir, "missing")))
}
