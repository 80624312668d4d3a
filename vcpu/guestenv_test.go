package vcpu_test

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices"
	"github.com/gonest/gonest/guestmem"
	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/kvm/kvmtest"
	"github.com/gonest/gonest/vcpu"
)

// Guest physical layout of the test guests.
const (
	guestGDT   = 0x0500  // FlatGDT
	guestCode  = 0x1000  // every guest is loaded and entered here
	guestPML4  = 0x2000  // identity page tables: PML4, PDPT, PD (one 2 MiB page)
	guestPDPT  = 0x3000  //
	guestPD    = 0x4000  //
	guestStack = 0x8000  // initial RSP
	guestRAM   = 0x10000 // 64 KiB of RAM at 0
	mmioBase   = 0x20000 // the MMIO test device, outside RAM
	portBase   = 0x10    // the port test device, ports 0x10-0x16
)

// Page table entry bits.
const (
	ptePresent = 1 << 0 // P
	pteWrite   = 1 << 1 // R/W
	pteUser    = 1 << 2 // U/S: reachable from CPL 3
	ptePS      = 1 << 7 // PS: 2 MiB page in a PD entry
)

type guestMode int

const (
	modeReal guestMode = iota
	modeProtected
	modeLong
	modeUser // long mode at CPL 3, IOPL 3
)

// guestEnv is a one-vCPU VM with 64 KiB of RAM and the test devices.
type guestEnv struct {
	sys   *kvm.System
	vm    *kvm.VM
	kv    *kvm.VCPU
	mem   *guestmem.Memory
	pio   *devices.Bus
	mmio  *devices.Bus
	ports *recorder // ports 0x10-0x16
	dev   *recorder // MMIO 0x20000-0x2000f
	v     *vcpu.VCPU
}

// setIF sets RFLAGS.IF before the guest first runs. A spinning guest
// with IF=1 leaves KVM_RUN at every host interrupt on every platform, so a
// kick (Run's cancel, Inspect) reaches it; with IF=0 some never force that
// exit (see kvmtest.RequireStopWithIFClear). The guest takes no interrupt
// itself: its VM has no interrupt controller.
func (g *guestEnv) setIF(t testing.TB) {
	t.Helper()
	regs, err := g.kv.GetRegs()
	require.NoError(t, err)
	regs.RFLAGS |= vcpu.RFLAGSIF
	require.NoError(t, g.kv.SetRegs(regs))
}

func newGuestEnv(t testing.TB, code []byte, mode guestMode) *guestEnv {
	t.Helper()
	g := &guestEnv{sys: kvmtest.Open(t)}
	g.vm = kvmtest.VM(t, g.sys)
	g.mem = kvmtest.Memory(t, g.vm, guestmem.Range{GPA: 0, Size: guestRAM})
	g.kv = kvmtest.VCPU(t, g.sys, g.vm, 0)

	_, err := g.mem.WriteAt(code, guestCode)
	require.NoError(t, err)
	_, err = g.mem.WriteAt(vcpu.EncodeGDT(vcpu.FlatGDT()), guestGDT)
	require.NoError(t, err)
	table := uint64(ptePresent | pteWrite | pteUser)
	require.NoError(t, g.mem.PutUint64(guestPML4, guestPDPT|table))
	require.NoError(t, g.mem.PutUint64(guestPDPT, guestPD|table))
	require.NoError(t, g.mem.PutUint64(guestPD, 0|table|ptePS))

	// kvmtest.VCPU gave the vCPU its CPUID already: KVM checks the CR4
	// and EFER of the long modes below against it.
	sregs, err := g.kv.GetSregs()
	require.NoError(t, err)
	regs := kvm.Regs{RIP: guestCode, RSP: guestStack, RFLAGS: vcpu.RFLAGSFixed}
	switch mode {
	case modeReal:
		vcpu.SetRealMode(&sregs)
	case modeProtected:
		vcpu.SetProtectedMode32(&sregs, guestGDT)
	case modeLong:
		vcpu.SetLongMode(&sregs, guestGDT, guestPML4)
	case modeUser:
		vcpu.SetLongMode(&sregs, guestGDT, guestPML4)
		vcpu.SetUserMode(&sregs)
		regs.RFLAGS |= vcpu.RFLAGSIOPLMask
	}
	require.NoError(t, g.kv.SetSregs(sregs))
	require.NoError(t, g.kv.SetRegs(regs))

	g.ports = newRecorder().
		reply(1, []byte{0x5a}).                                      // port 0x11
		reply(5, []byte{'w'}, []byte{'x'}, []byte{'y'}, []byte{'z'}) // port 0x15
	g.dev = newRecorder().reply(4, []byte{0x78, 0x56, 0x34, 0x12})
	g.pio = devices.NewBus("pio")
	require.NoError(t, g.pio.Insert(g.ports, portBase, 7))
	g.mmio = devices.NewBus("mmio")
	require.NoError(t, g.mmio.Insert(g.dev, mmioBase, 0x10))
	g.v = vcpu.New(g.kv, vcpu.Config{PIO: g.pio, MMIO: g.mmio})
	return g
}

// cpuidLM is CPUID.80000001H:EDX bit 29, long mode, which KVM requires in
// the guest CPUID before it accepts EFER.LME or EFER.LMA in KVM_SET_SREGS
// (__kvm_valid_efer in arch/x86/kvm/x86.c; checked on KVM_SET_SREGS since
// "KVM: x86: Check EFER validity on KVM_SET_SREGS*", Linux 6.12.112).
const cpuidLM = 1 << 29

// Every guest environment's vCPU has a CPUID with long mode before its
// special registers are set, so the long-mode guests below are valid on
// every KVM, not only on those that skip the check.
func TestGuestEnvHasCPUIDBeforeSregs(t *testing.T) {
	for _, mode := range []guestMode{modeReal, modeLong, modeUser} {
		g := newGuestEnv(t, []byte{0xf4}, mode) // hlt
		cpuid, err := g.kv.GetCPUID2()
		require.NoError(t, err)
		var lm bool
		for _, e := range cpuid {
			if e.Function == 0x80000001 {
				lm = e.EDX&cpuidLM != 0
			}
		}
		assert.True(t, lm, "mode %d: the vCPU's CPUID must offer long mode", mode)
	}
}

// le32 is v as four little-endian bytes.
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
