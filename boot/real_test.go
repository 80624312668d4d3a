package boot

import (
	"os"
	"testing"

	"github.com/gonest/gonest/guestmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRealBzImage parses and loads the kernel named by GONEST_BZIMAGE (the
// images pipeline and the lab set it; Debian's vmlinuz works).
func TestRealBzImage(t *testing.T) {
	path := os.Getenv("GONEST_BZIMAGE")
	if path == "" {
		skipOrFail(t, "GONEST_BZIMAGE is not set: no real bzImage to check (make lab-test sets it to images/out's kernel)")
	}
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)

	k, err := ParseKernel(f, st.Size())
	require.NoError(t, err)
	require.Equal(t, FormatBzImage, k.Format)
	h := k.Setup
	t.Logf("protocol %s, setup %d sectors, kernel %d bytes, init_size %d MiB, pref_address %#x, alignment %#x, cmdline_size %d, initrd_addr_max %#x, xloadflags %#x",
		h.ProtocolString(), h.SetupSects, h.KernelSize, h.InitSize>>20, h.PrefAddress, h.KernelAlignment, h.CmdlineSize, h.InitrdAddrMax, h.XLoadFlags)
	assert.GreaterOrEqual(t, h.Version, uint16(0x020C))
	assert.NotZero(t, h.XLoadFlags&XLFKernel64)
	assert.NotZero(t, h.LoadFlags&LoadedHigh)
	assert.Greater(t, int64(h.InitSize), h.KernelSize, "init_size covers the decompressed kernel")
	assert.GreaterOrEqual(t, h.CmdlineSize, uint32(255))
	assert.GreaterOrEqual(t, h.PrefAddress, uint64(HighMemStart))

	rs, err := RAMRanges(256 * mib)
	require.NoError(t, err)
	mem := guestmem.FromBytes(0, make([]byte, rs[0].Size))
	initrd := make([]byte, 4*mib)
	ld, err := Load(mem, f, st.Size(), bytesReader(initrd), int64(len(initrd)), Cmdline(""), Options{})
	require.NoError(t, err)
	assert.Equal(t, ld.Kernel[0].Addr+Entry64Offset, ld.CPU.RIP)
	assert.GreaterOrEqual(t, ld.Initrd.Addr, ld.Kernel[len(ld.Kernel)-1].End())
}

// TestRealVmlinux parses and loads the uncompressed kernel named by
// GONEST_VMLINUX (Debian's, extracted from vmlinuz, has a PVH note).
func TestRealVmlinux(t *testing.T) {
	path := os.Getenv("GONEST_VMLINUX")
	if path == "" {
		skipOrFail(t, "GONEST_VMLINUX is not set: no real vmlinux to check (the lab sets it to images/out's uncompressed kernel)")
	}
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)

	k, err := ParseKernel(f, st.Size())
	require.NoError(t, err)
	require.NotNil(t, k.ELF)
	t.Logf("format %v, entry %#x, PVH entry %#x, %d segments", k.Format, k.ELF.Entry, k.ELF.PVHEntry, len(k.ELF.Segments))
	assert.GreaterOrEqual(t, k.ELF.Entry, uint64(HighMemStart))
	mem := guestmem.FromBytes(0, make([]byte, 256*mib))
	ld, err := Load(mem, f, st.Size(), nil, 0, Cmdline(""), Options{})
	require.NoError(t, err)
	if k.Format == FormatPVH {
		assert.Equal(t, k.ELF.PVHEntry, ld.CPU.RIP)
		assert.Equal(t, uint64(PVHStartInfoAddr), ld.CPU.RBX)
	} else {
		assert.Equal(t, k.ELF.Entry, ld.CPU.RIP)
	}
}

// skipOrFail skips a real-kernel test with the reason, or fails it when
// GONEST_REQUIRE_LAB=1 says the images must be there (make lab-test).
func skipOrFail(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("GONEST_REQUIRE_LAB") == "1" {
		t.Fatal(reason + "; GONEST_REQUIRE_LAB=1 requires it")
	}
	t.Skip(reason)
}
