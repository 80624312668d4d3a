package kvm_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gonest/gonest/guestmem"
	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/kvm/kvmtest"
)

// These tests need /dev/kvm and go through kvmtest, which skips them (with
// the reason) where it is missing, or fails them under GONEST_REQUIRE_KVM=1.

func TestSystemQueries(t *testing.T) {
	sys := kvmtest.Open(t)

	v, err := sys.GetAPIVersion()
	require.NoError(t, err)
	assert.Equal(t, kvm.APIVersion, v)

	n, err := sys.CheckExtension(kvm.CapUserMemory)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "every KVM has KVM_CAP_USER_MEMORY")

	size, err := sys.GetVCPUMmapSize()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, size, 4096)

	cpuid, err := sys.GetSupportedCPUID()
	require.NoError(t, err)
	require.NotEmpty(t, cpuid)
	assert.Equal(t, uint32(0), cpuid[0].Function, "leaf 0 comes first")
	assert.NotZero(t, cpuid[0].EAX, "leaf 0 reports a highest basic leaf")

	msrs, err := sys.GetMSRIndexList()
	require.NoError(t, err)
	assert.Contains(t, msrs, uint32(0xc0000081), "STAR is always save/restorable")

	if n, _ := sys.CheckExtension(kvm.CapGetMSRFeatures); n == 0 {
		t.Log("KVM_CAP_GET_MSR_FEATURES absent: feature MSRs not checked")
		return
	}
	features, err := sys.GetMSRFeatureIndexList()
	require.NoError(t, err)
	require.NotEmpty(t, features)
	entries := make([]kvm.MSREntry, len(features))
	for i, idx := range features {
		entries[i].Index = idx
	}
	read, err := sys.GetMSRs(entries)
	require.NoError(t, err)
	assert.Equal(t, len(entries), read, "every listed feature MSR is readable")
}

func TestVMSetup(t *testing.T) {
	sys := kvmtest.Open(t)
	vm := kvmtest.VM(t, sys)
	mem := kvmtest.Memory(t, vm, guestmem.Range{GPA: 0, Size: 1 << 20})
	require.Equal(t, uint64(1<<20), mem.Size())

	require.NoError(t, vm.SetTSSAddr(0xfffbd000))
	require.NoError(t, vm.SetIdentityMapAddr(0xfffbc000))
	require.NoError(t, vm.CreateIRQChip())
	require.NoError(t, vm.CreatePIT2(kvm.PITSpeakerDummy))

	require.NoError(t, vm.IRQLine(4, true))
	require.NoError(t, vm.IRQLine(4, false))
	_, err := vm.IRQLineStatus(4, true)
	require.NoError(t, err)

	routes := append(kvm.DefaultIRQChipRoutes(), kvm.NewMSIRoute(24, 0xfee00000, 0x30))
	require.NoError(t, vm.SetGSIRouting(routes))

	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, unix.Close(efd)) })
	require.NoError(t, vm.IRQFD(kvm.IRQFD{FD: uint32(efd), GSI: 24}))
	require.NoError(t, vm.IRQFD(kvm.IRQFD{FD: uint32(efd), GSI: 24, Flags: kvm.IRQFDFlagDeassign}))

	io := kvm.IOEventFD{Addr: 0xd0000000, Len: 4, FD: int32(efd), Datamatch: 1, Flags: kvm.IOEventFDFlagDatamatch}
	require.NoError(t, vm.IOEventFD(io))
	io.Flags |= kvm.IOEventFDFlagDeassign
	require.NoError(t, vm.IOEventFD(io))
	pio := kvm.IOEventFD{Addr: 0xc000, Len: 2, FD: int32(efd), Flags: kvm.IOEventFDFlagPIO}
	require.NoError(t, vm.IOEventFD(pio))

	// Deassigning something never assigned is an error that names the ioctl.
	err = vm.IOEventFD(kvm.IOEventFD{Addr: 0x1234, Len: 1, FD: int32(efd), Flags: kvm.IOEventFDFlagPIO | kvm.IOEventFDFlagDeassign})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "KVM_IOEVENTFD")

	clock, err := vm.GetClock()
	require.NoError(t, err)
	require.NoError(t, vm.SetClock(kvm.ClockData{Clock: clock.Clock}))

	vcpu := kvmtest.VCPU(t, sys, vm, 0)
	l, err := vcpu.GetLAPIC()
	require.NoError(t, err)
	l.SetLINTs()
	require.NoError(t, vcpu.SetLAPIC(l))
	l2, err := vcpu.GetLAPIC()
	require.NoError(t, err)
	assert.Equal(t, uint32(kvm.LVTDeliveryExtINT), l2.Reg(kvm.LAPICRegLVT0)&kvm.LVTDeliveryModeMask)
	assert.Equal(t, uint32(kvm.LVTDeliveryNMI), l2.Reg(kvm.LAPICRegLVT1)&kvm.LVTDeliveryModeMask)

	delivered, err := vm.SignalMSI(kvm.MSI{AddressLo: 0xfee00000, Data: 0x31})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, delivered, 0)
}

func TestCreateVCPUTwiceFails(t *testing.T) {
	sys := kvmtest.Open(t)
	vm := kvmtest.VM(t, sys)
	kvmtest.BareVCPU(t, vm, 0)
	_, err := vm.CreateVCPU(0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "KVM_CREATE_VCPU 0")
	assert.True(t, errors.Is(err, unix.EEXIST), "got %v", err)
}

func TestVCPURegisterRoundTrips(t *testing.T) {
	sys := kvmtest.Open(t)
	vm := kvmtest.VM(t, sys)
	vcpu := kvmtest.VCPU(t, sys, vm, 0)

	regs := kvm.Regs{RAX: 1, RBX: 2, RCX: 3, R15: 0xf15, RIP: 0x1234, RFLAGS: 0x2}
	require.NoError(t, vcpu.SetRegs(regs))
	got, err := vcpu.GetRegs()
	require.NoError(t, err)
	assert.Equal(t, regs, got)

	sregs, err := vcpu.GetSregs()
	require.NoError(t, err)
	assert.Equal(t, uint16(0xf000), sregs.CS.Selector, "reset CS")
	assert.Equal(t, uint64(0xffff0000), sregs.CS.Base, "reset CS base")
	sregs.CS.Base, sregs.CS.Selector = 0x10000, 0x1000
	require.NoError(t, vcpu.SetSregs(sregs))
	sregs2, err := vcpu.GetSregs()
	require.NoError(t, err)
	assert.Equal(t, uint64(0x10000), sregs2.CS.Base)

	fpu, err := vcpu.GetFPU()
	require.NoError(t, err)
	fpu.XMM[3][0] = 0x5a
	fpu.MXCSR = 0x1f80
	require.NoError(t, vcpu.SetFPU(fpu))
	fpu2, err := vcpu.GetFPU()
	require.NoError(t, err)
	assert.Equal(t, uint8(0x5a), fpu2.XMM[3][0])

	const msrTSCAux = 0xc0000103
	cpuid, err := sys.GetSupportedCPUID()
	require.NoError(t, err)
	require.NoError(t, vcpu.SetCPUID2(cpuid))
	back, err := vcpu.GetCPUID2()
	require.NoError(t, err)
	require.NotEmpty(t, back)
	// KVM may drop entries it has no use for; leaf 0 always stays.
	assert.Equal(t, cpuid[0], back[0])

	n, err := vcpu.SetMSRs([]kvm.MSREntry{{Index: msrTSCAux, Data: 7}})
	require.NoError(t, err)
	if n == 1 {
		msrs := []kvm.MSREntry{{Index: msrTSCAux}}
		read, err := vcpu.GetMSRs(msrs)
		require.NoError(t, err)
		require.Equal(t, 1, read)
		assert.Equal(t, uint64(7), msrs[0].Data)
	} else {
		t.Logf("host refuses TSC_AUX (rdtscp absent); MSR round trip not checked")
	}

	require.NoError(t, vcpu.SetMPState(kvm.MPStateRunnable))
	mp, err := vcpu.GetMPState()
	require.NoError(t, err)
	assert.Equal(t, uint32(kvm.MPStateRunnable), mp)

	ev, err := vcpu.GetVCPUEvents()
	require.NoError(t, err)
	require.NoError(t, vcpu.SetVCPUEvents(ev))
}

func TestStatsFDOnRealKVM(t *testing.T) {
	sys := kvmtest.Open(t)
	kvmtest.RequireCap(t, sys, kvm.CapBinaryStatsFD)
	vm := kvmtest.VM(t, sys)
	vcpu := kvmtest.VCPU(t, sys, vm, 0)

	vmStats, err := vm.StatsFD()
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, vmStats.Close()) })
	assert.Regexp(t, `^kvm-\d+$`, vmStats.ID())
	require.NotEmpty(t, vmStats.Descriptors())

	st, err := vcpu.StatsFD()
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, st.Close()) })
	assert.Regexp(t, `^kvm-\d+/vcpu-0$`, st.ID())
	values, err := st.Read()
	require.NoError(t, err)
	require.Contains(t, values, "exits", "every vCPU counts exits")
	assert.Len(t, values["exits"], 1)
}

func TestNestedState(t *testing.T) {
	sys := kvmtest.Open(t)
	size, err := sys.CheckExtension(kvm.CapNestedState)
	require.NoError(t, err)
	vm := kvmtest.VM(t, sys)
	vcpu := kvmtest.VCPU(t, sys, vm, 0)
	if size == 0 {
		_, err := vcpu.GetNestedState(size)
		assert.ErrorIs(t, err, kvm.ErrNoNestedState)
		kvmtest.NestedUnavailable(t, "KVM_CAP_NESTED_STATE is 0 on this host")
	}
	ns, err := vcpu.GetNestedState(size)
	require.NoError(t, err)
	assert.False(t, ns.GuestMode(), "a fresh vCPU runs no L2")
	assert.True(t, ns.VMX != nil || ns.SVM != nil)
}

func TestLessCommonIoctls(t *testing.T) {
	sys := kvmtest.Open(t)

	kvmtest.RequireCap(t, sys, kvm.CapExtEmulCPUID)
	emulated, err := sys.GetEmulatedCPUID()
	require.NoError(t, err)
	assert.NotEmpty(t, emulated, "KVM emulates at least MOVBE/RDPID leaves")

	t.Run("split irqchip", func(t *testing.T) {
		vm := kvmtest.VM(t, sys)
		kvmtest.RequireCap(t, sys, kvm.CapSplitIRQChip)
		require.NoError(t, vm.EnableCap(kvm.EnableCap{Cap: kvm.CapSplitIRQChip, Args: [4]uint64{24}}))
		// With the LAPIC in the kernel and the IOAPIC in userspace, a full
		// in-kernel irqchip can no longer be created.
		assert.Error(t, vm.CreateIRQChip())
	})

	t.Run("vcpu", func(t *testing.T) {
		vm := kvmtest.VM(t, sys)
		vcpu := kvmtest.VCPU(t, sys, vm, 0)
		khz, err := vcpu.GetTSCKHz()
		require.NoError(t, err)
		assert.Greater(t, khz, uint32(100_000), "TSC above 100 MHz")

		var mask unix.Sigset_t
		mask.Val[0] = 1 << (uint(unix.SIGUSR1) - 1)
		require.NoError(t, vcpu.SetSignalMask(&mask))
		require.NoError(t, vcpu.SetSignalMask(nil))
	})
}

// Long-mode special registers: paging on, PAE, EFER.LME and LMA, a 64-bit
// code segment. KVM checks these against the guest CPUID (EFER.LME/LMA need
// its LM bit), so they are what a kernel with those checks refuses on a
// vCPU without one.
func longModeSregs(s kvm.Sregs) kvm.Sregs {
	const (
		cr0PE, cr0PG = 1 << 0, 1 << 31
		cr4PAE       = 1 << 5
		eferLME      = 1 << 8
		eferLMA      = 1 << 10
	)
	s.CR0 |= cr0PE | cr0PG
	s.CR4 |= cr4PAE
	s.EFER |= eferLME | eferLMA
	s.CR3 = 0x1000
	s.CS.L, s.CS.DB = 1, 0
	return s
}

// KVM_SET_SREGS comes after KVM_SET_CPUID2: before it, the handle refuses
// without asking KVM; after it, KVM accepts long mode.
func TestSetSregsAfterCPUID(t *testing.T) {
	sys := kvmtest.Open(t)
	vm := kvmtest.VM(t, sys)
	vcpu := kvmtest.BareVCPU(t, vm, 0)
	sregs, err := vcpu.GetSregs()
	require.NoError(t, err)
	lm := longModeSregs(sregs)
	assert.ErrorIs(t, vcpu.SetSregs(lm), kvm.ErrCPUIDNotSet)

	cpuid, err := sys.GetSupportedCPUID()
	require.NoError(t, err)
	require.NoError(t, vcpu.SetCPUID2(cpuid))
	require.NoError(t, vcpu.SetSregs(lm))
	got, err := vcpu.GetSregs()
	require.NoError(t, err)
	assert.Equal(t, lm.EFER, got.EFER&lm.EFER, "EFER.LME and LMA set")
}
