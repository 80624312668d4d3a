package images

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/ulikunitz/xz"

	"github.com/gonest/gonest/images/kmod/kmodtest"
)

// These tests run build.sh's kernel step with the real mkimage against fake
// apt, apt-get and dpkg-deb commands: the "package" is a tree the test
// writes, shaped like Debian's (boot/vmlinuz-R, boot/config-R,
// lib/modules/R with modules.builtin), so version and flavour selection,
// compressed and built-in modules and the missing-KVM answer are checked
// without network or root.

// aptPackages is what the fake `apt-cache pkgnames linux-image-` prints.
const aptPackages = `linux-image-6.1.0-57-amd64
linux-image-6.1.0-57-amd64-unsigned
linux-image-6.1.0-57-cloud-amd64-unsigned
linux-image-6.12.107+deb12-cloud-amd64-unsigned
linux-image-6.12.118+deb12-cloud-amd64-unsigned
linux-image-6.12.118+deb12-amd64-unsigned
linux-image-amd64
linux-image-cloud-amd64`

var (
	mkimageOnce sync.Once
	mkimagePath string
	mkimageErr  error
)

// realMkimage builds images/cmd/mkimage once for the package's tests.
func realMkimage(t *testing.T) string {
	t.Helper()
	mkimageOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mkimage-test-")
		if err != nil {
			mkimageErr = err
			return
		}
		mkimagePath = filepath.Join(dir, "mkimage")
		out, err := exec.Command("go", "build", "-o", mkimagePath, "./cmd/mkimage").CombinedOutput()
		if err != nil {
			mkimageErr = err
			mkimagePath = string(out)
		}
	})
	require.NoError(t, mkimageErr, "go build ./cmd/mkimage: %s", mkimagePath)
	return mkimagePath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if mkimagePath != "" && mkimageErr == nil {
		os.RemoveAll(filepath.Dir(mkimagePath))
	}
	os.Exit(code)
}

// fakeKernel describes the package tree the fake dpkg-deb unpacks.
type fakeKernel struct {
	release string
	modules map[string][]string // path under lib/modules/R (.ko.xz compressed here) -> .modinfo fields
	builtin []string            // modules.builtin lines
	config  string              // boot/config-R
}

// debian612Cloud is shaped like linux-image-6.12.118+deb12-cloud-amd64:
// modules are .ko.xz; virtio_pci and ext4 are built in.
func debian612Cloud() fakeKernel {
	return fakeKernel{
		release: "6.12.118+deb12-cloud-amd64",
		modules: map[string][]string{
			"kernel/virt/lib/irqbypass.ko.xz":       {"name=irqbypass"},
			"kernel/arch/x86/kvm/kvm.ko.xz":         {"name=kvm", "depends=irqbypass"},
			"kernel/drivers/crypto/ccp/ccp.ko.xz":   {"name=ccp"},
			"kernel/arch/x86/kvm/kvm-amd.ko.xz":     {"name=kvm_amd", "depends=kvm,ccp"},
			"kernel/arch/x86/kvm/kvm-intel.ko.xz":   {"name=kvm_intel", "depends=kvm"},
			"kernel/drivers/block/virtio_blk.ko.xz": {"name=virtio_blk"},
		},
		builtin: []string{"kernel/drivers/virtio/virtio_pci.ko", "kernel/fs/ext4/ext4.ko"},
		config:  "CONFIG_KVM=m\nCONFIG_KVM_AMD=m\nCONFIG_KVM_INTEL=m\nCONFIG_VIRTIO_PCI=y\nCONFIG_EXT4_FS=y\n",
	}
}

// writeTree lays the package out under dir as dpkg-deb -x would.
func (k fakeKernel) writeTree(t *testing.T, dir string) {
	t.Helper()
	mods := "lib/modules/" + k.release + "/"
	files := map[string][]byte{
		"boot/vmlinuz-" + k.release: []byte("not a real bzImage"),
		"boot/config-" + k.release:  []byte(k.config),
		mods + "modules.builtin":    []byte(strings.Join(k.builtin, "\n") + "\n"),
	}
	for rel, fields := range k.modules {
		data := kmodtest.ModuleELF(t, fields...)
		if strings.HasSuffix(rel, ".xz") {
			var b bytes.Buffer
			w, err := xz.WriterConfig{CheckSum: xz.CRC32}.NewWriter(&b)
			require.NoError(t, err)
			_, err = w.Write(data)
			require.NoError(t, err)
			require.NoError(t, w.Close())
			data = b.Bytes()
		}
		files[mods+rel] = data
	}
	kmodtest.WriteFiles(t, dir, files)
}

// fakeApt returns fake id, apt-cache, apt-get and dpkg-deb commands: apt
// knows aptPackages (and, when staleUntilUpdate, only after apt-get
// update), downloads write an empty .deb named after the package, and
// dpkg-deb -x copies k's tree. It returns the directory of the commands
// and the file logging every apt-get call.
func fakeApt(t *testing.T, k fakeKernel, root, staleUntilUpdate bool) (bin, aptLog string) {
	t.Helper()
	tree := t.TempDir()
	k.writeTree(t, tree)
	uid := "1000"
	if root {
		uid = "0"
	}
	state := t.TempDir()
	aptLog = filepath.Join(state, "apt-get.log")
	updated := filepath.Join(state, "updated")
	if !staleUntilUpdate {
		require.NoError(t, os.WriteFile(updated, nil, 0o644))
	}
	list := filepath.Join(state, "pkgnames")
	require.NoError(t, os.WriteFile(list, []byte(aptPackages+"\n"), 0o644))
	return fakeBin(t, map[string]string{
		"id": "echo " + uid,
		"apt-cache": `case $1 in
show) exit 0 ;;
pkgnames) if [ -f ` + updated + ` ]; then cat ` + list + `; else grep -v 6.12 ` + list + `; fi ;;
depends) [ "$2" = linux-image-cloud-amd64 ] && echo "  Depends: linux-image-6.1.0-57-cloud-amd64"
	[ "$2" = linux-image-amd64 ] && echo "  Depends: linux-image-6.1.0-57-amd64"; exit 0 ;;
esac`,
		"apt-get": `echo "$*" >>` + aptLog + `
case $1 in
update) touch ` + updated + ` ;;
download) : >"$3_1_amd64.deb" ;;
esac`,
		"dpkg-deb": `[ "$1" = -x ] && mkdir -p "$3" && cp -R ` + tree + `/. "$3"`,
	}), aptLog
}

func TestKernelStepPicksVersionAndFlavour(t *testing.T) {
	k := debian612Cloud()
	bin, aptLog := fakeApt(t, k, true, false)
	cache := t.TempDir()
	r := runKernel(t, kernelRun{bin: bin, mkimage: realMkimage(t), modules: []string{"kvm_amd", "kvm_intel", "virtio_pci", "virtio_blk", "ext4"},
		env: []string{"KERNEL_VERSION=6.12", "KERNEL_FLAVOUR=cloud", "KERNEL_CACHE=" + cache}})
	require.Equal(t, 0, r.code, "stderr: %s", strings.Join(r.stderr, "\n"))
	assert.Contains(t, r.stderr, "images: downloading linux-image-6.12.118+deb12-cloud-amd64-unsigned")
	assert.Contains(t, r.stderr, "images: kernel ready: 6.12.118+deb12-cloud-amd64")
	assert.FileExists(t, filepath.Join(cache, "linux-image-6.12.118+deb12-cloud-amd64-unsigned_1_amd64.deb"))
	release, err := os.ReadFile(filepath.Join(r.out, "kernel.release"))
	require.NoError(t, err)
	assert.Equal(t, "6.12.118+deb12-cloud-amd64\n", string(release))

	// Built-in modules are skipped, and the log says so.
	assert.Contains(t, r.stdout, "module virtio_pci             built into the kernel; skipped")
	assert.Contains(t, r.stdout, "module ext4                   built into the kernel; skipped")
	// The .ko.xz modules are stored uncompressed.
	mods := filepath.Join(r.out, "modules", k.release)
	kvmAMD, err := os.ReadFile(filepath.Join(mods, "kernel/arch/x86/kvm/kvm-amd.ko"))
	require.NoError(t, err)
	assert.Equal(t, kmodtest.ModuleELF(t, "name=kvm_amd", "depends=kvm,ccp"), kvmAMD)
	dep, err := os.ReadFile(filepath.Join(mods, "modules.dep"))
	require.NoError(t, err)
	assert.Contains(t, string(dep), "kernel/arch/x86/kvm/kvm-amd.ko: kernel/drivers/crypto/ccp/ccp.ko kernel/arch/x86/kvm/kvm.ko kernel/virt/lib/irqbypass.ko\n")
	assert.FileExists(t, filepath.Join(mods, "modules.builtin"))

	// A second image set sharing the cache downloads nothing.
	r2 := runKernel(t, kernelRun{bin: bin, mkimage: realMkimage(t), modules: []string{"kvm_amd"},
		env: []string{"KERNEL_VERSION=6.12", "KERNEL_FLAVOUR=cloud", "KERNEL_CACHE=" + cache}})
	require.Equal(t, 0, r2.code, "stderr: %s", strings.Join(r2.stderr, "\n"))
	assert.NotContains(t, strings.Join(r2.stderr, "\n"), "downloading")
	log, err := os.ReadFile(aptLog)
	require.NoError(t, err)
	assert.Equal(t, "download -q linux-image-6.12.118+deb12-cloud-amd64-unsigned\n", string(log))
}

// A flavour alone follows that flavour's meta package.
func TestKernelStepFlavourFollowsItsMetaPackage(t *testing.T) {
	k := debian612Cloud()
	k.release = "6.1.0-57-cloud-amd64"
	bin, _ := fakeApt(t, k, true, false)
	r := runKernel(t, kernelRun{bin: bin, mkimage: realMkimage(t), modules: []string{"kvm_amd"},
		env: []string{"KERNEL_FLAVOUR=cloud"}})
	require.Equal(t, 0, r.code, "stderr: %s", strings.Join(r.stderr, "\n"))
	assert.Contains(t, r.stderr, "images: downloading linux-image-6.1.0-57-cloud-amd64-unsigned")
}

// Package lists older than the version asked for get one apt-get update.
func TestKernelStepUpdatesStaleLists(t *testing.T) {
	bin, _ := fakeApt(t, debian612Cloud(), true, true)
	r := runKernel(t, kernelRun{bin: bin, mkimage: realMkimage(t), modules: []string{"kvm_amd"},
		env: []string{"KERNEL_VERSION=6.12", "KERNEL_FLAVOUR=cloud"}})
	require.Equal(t, 0, r.code, "stderr: %s", strings.Join(r.stderr, "\n"))
	assert.Equal(t, []string{"images: apt-get update", "images: downloading linux-image-6.12.118+deb12-cloud-amd64-unsigned"}, r.stderr[:2])
}

// A version or flavour that matches nothing: one line listing what exists.
func TestKernelStepNoSuchKernel(t *testing.T) {
	tests := []struct {
		name string
		root bool
		env  []string
		want []string
	}{
		{"version, as root after an update", true, []string{"KERNEL_VERSION=6.13"}, []string{
			"images: apt-get update",
			"images: KERNEL_VERSION=6.13 matches no Debian kernel package of flavour default; versions: 6.1 (6.1.0-57), 6.12 (6.12.118+deb12)"}},
		{"version, not root", false, []string{"KERNEL_VERSION=6.13", "KERNEL_FLAVOUR=cloud"}, []string{
			"images: KERNEL_VERSION=6.13 matches no Debian kernel package of flavour cloud; versions: 6.1 (6.1.0-57), 6.12 (6.12.107+deb12 to 6.12.118+deb12); " +
				"if it is newer than apt's package lists, run: sudo apt-get update"}},
		{"flavour", true, []string{"KERNEL_FLAVOUR=azure"}, []string{
			"images: apt-get update",
			"images: KERNEL_FLAVOUR=azure matches no Debian kernel package; flavours: cloud, default"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin, _ := fakeApt(t, debian612Cloud(), tt.root, false)
			r := runKernel(t, kernelRun{bin: bin, mkimage: realMkimage(t), modules: []string{"kvm_amd"}, env: tt.env})
			assert.Equal(t, 1, r.code)
			assert.Equal(t, tt.want, r.stderr)
			assert.NoFileExists(t, filepath.Join(r.out, "kernel.stamp"))
		})
	}
}

// A kernel without KVM stops the images with one line naming the option.
func TestKernelStepKernelWithoutKVM(t *testing.T) {
	k := debian612Cloud()
	k.release = "6.12.118+deb12-amd64"
	delete(k.modules, "kernel/arch/x86/kvm/kvm-amd.ko.xz")
	k.config = "CONFIG_KVM=m\n# CONFIG_KVM_AMD is not set\nCONFIG_KVM_INTEL=m\n"
	bin, _ := fakeApt(t, k, true, false)
	r := runKernel(t, kernelRun{bin: bin, mkimage: realMkimage(t), modules: []string{"kvm_amd", "kvm_intel", "virtio_pci"},
		env: []string{"KERNEL_VERSION=6.12"}})
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "images: kernel 6.12.118+deb12-amd64: this kernel has no kvm_amd (CONFIG_KVM_AMD is not set: neither a module nor built in); "+
		"use a kernel built with CONFIG_KVM_AMD=m or CONFIG_KVM_AMD=y", r.stderr[len(r.stderr)-1])
	assert.NoFileExists(t, filepath.Join(r.out, "kernel.stamp"))
}
