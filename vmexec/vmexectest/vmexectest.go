package vmexectest

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Setup header offsets of a bzImage (Documentation/arch/x86/boot.rst).
const (
	hdrMagic         = 0x202
	hdrVersion       = 0x206
	hdrKernelVersion = 0x20E
	versionAt        = 0x300
)

// BzImage is the start of a bzImage whose setup header's kernel_version
// points at version ("6.1.0-57-amd64 (debian-kernel@...) #1 SMP ...").
func BzImage(version string) []byte {
	b := make([]byte, 0x1000)
	copy(b[hdrMagic:], "HdrS")
	binary.LittleEndian.PutUint16(b[hdrVersion:], 0x020f)
	binary.LittleEndian.PutUint16(b[hdrKernelVersion:], versionAt-0x200)
	copy(b[versionAt:], version+"\x00")
	return b
}

// DebianModules is the dependency shape of Debian 6.1's modules that
// gonest exec packs: path in lib/modules/<release>, then its modules.dep
// dependencies.
var DebianModules = map[string]string{
	"kernel/drivers/virtio/virtio.ko":                "",
	"kernel/drivers/virtio/virtio_ring.ko":           "",
	"kernel/drivers/virtio/virtio_pci_modern_dev.ko": "",
	"kernel/drivers/virtio/virtio_pci_legacy_dev.ko": "",
	"kernel/drivers/virtio/virtio_pci.ko":            " kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko",
	"kernel/drivers/char/virtio_console.ko":          " kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko",
	"kernel/fs/fuse/fuse.ko":                         "",
	"kernel/fs/fuse/virtiofs.ko":                     " kernel/fs/fuse/fuse.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko",
	"kernel/fs/overlayfs/overlay.ko":                 "",
	"kernel/virt/lib/irqbypass.ko":                   "",
	"kernel/arch/x86/kvm/kvm.ko":                     " kernel/virt/lib/irqbypass.ko",
	"kernel/drivers/crypto/ccp/ccp.ko":               "",
	"kernel/arch/x86/kvm/kvm-amd.ko":                 " kernel/arch/x86/kvm/kvm.ko kernel/virt/lib/irqbypass.ko kernel/drivers/crypto/ccp/ccp.ko",
	"kernel/arch/x86/kvm/kvm-intel.ko":               " kernel/arch/x86/kvm/kvm.ko kernel/virt/lib/irqbypass.ko",
	"kernel/drivers/block/virtio_blk.ko":             " kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko",
	"kernel/net/9p/9pnet.ko":                         "",
	"kernel/net/9p/9pnet_virtio.ko":                  " kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko",
	"kernel/fs/9p/9p.ko":                             " kernel/net/9p/9pnet.ko",
}

// Modules writes root/release as depmod lays out lib/modules/<release>:
// a modules.dep of dep (path: dependencies), a file for each module (its
// contents name it), and a modules.builtin listing builtin. It returns
// the directory.
func Modules(t testing.TB, root, release string, dep map[string]string, builtin ...string) string {
	t.Helper()
	dir := filepath.Join(root, release)
	var lines []string
	for path, deps := range dep {
		lines = append(lines, path+":"+deps)
		WriteFile(t, filepath.Join(dir, path), "module "+path)
	}
	WriteFile(t, filepath.Join(dir, "modules.dep"), strings.Join(lines, "\n")+"\n")
	WriteFile(t, filepath.Join(dir, "modules.builtin"), strings.Join(builtin, "\n")+"\n")
	return dir
}

// WriteFile writes data to path, making its directory.
func WriteFile(t testing.TB, path, data string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(data), 0o644))
}
