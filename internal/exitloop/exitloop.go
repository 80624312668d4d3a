package exitloop

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/tinyelf"
)

// Kind is one workload.
type Kind string

// The workloads. The comment says what one iteration does and what KVM
// does about it, one level down.
const (
	// PIO: out 0x80, al. An I/O exit KVM cannot handle in the kernel:
	// KVM_EXIT_IO to the VMM, which hands it to its POST-port device.
	PIO Kind = "pio"
	// MMIO: a 4-byte store to MMIOAddr, an address no memory slot and no
	// device covers: a nested page fault that KVM turns into
	// KVM_EXIT_MMIO to the VMM, which counts it as unclaimed.
	MMIO Kind = "mmio"
	// CPUID: cpuid with EAX=0. Intercepted always (SVM intercept CPUID,
	// VMX unconditional exit), answered by KVM in the kernel from the
	// table the VMM set with KVM_SET_CPUID2.
	CPUID Kind = "cpuid"
	// MSR: wrmsr of 0 to MSR 0x8b (IA32_BIOS_SIGN_ID, the microcode
	// revision), which no KVM passes through to the hardware; KVM accepts
	// and ignores a guest's write (kvm_set_msr_common, MSR_IA32_UCODE_REV).
	MSR Kind = "msr"
	// HLT: EOI; sti; hlt; cli, with the LAPIC timer firing periodically
	// (every HLTTimerPeriod ns, set up before the loop) and a handler
	// that only returns. The handler leaves the timer's vector in
	// service, which holds back the next timer interrupt until the loop's
	// EOI: so exactly one interrupt wakes each HLT however slowly the
	// loop runs. One HLT exit and one LAPIC register write per
	// iteration, all handled in the kernel by KVM's LAPIC.
	HLT Kind = "hlt"
	// PF: a byte store (PFByte) to a fresh 4 KiB page, never touched
	// before, from FreshBase up. Its first touch is a nested page fault at every level
	// whose memory is not yet backed; a level backed by 2 MiB pages faults
	// once per 512 iterations.
	PF Kind = "pf"
	// Spin: nothing (nop). No exit: the control loop, and a guest that
	// stays in guest mode for a nested-state capture. It runs with
	// RFLAGS.IF=1 (sti before the loop; no interrupt is ever sent to it):
	// KVM sets external-interrupt exiting (SDM vol. 3C, 26.2), so on
	// hardware the host's interrupts and kicks stop the guest whatever its
	// IF, but Bochs 2.7 masks them while a VMX guest runs with IF=0, and
	// a kick that must catch the loop in guest mode would wait for its
	// end (docs/lab.md, "What Bochs does that hardware does not").
	Spin Kind = "spin"
)

// Kinds lists every workload, in the order the experiment runs them.
var Kinds = []Kind{PIO, MMIO, CPUID, MSR, HLT, PF, Spin}

// Guest addresses and values the workloads use.
const (
	// POSTPort is where PIO writes (gonest's POST device).
	POSTPort = boot.POSTPort
	// MMIOAddr is the address MMIO stores to: in the 32-bit MMIO hole,
	// 16 MiB above gonest's PCI window and below the IOAPIC, where
	// nothing is mapped.
	MMIOAddr = boot.PCIMMIO32Start + boot.PCIMMIO32Size + 16<<20
	// MSRIndex is the MSR MSR writes.
	MSRIndex = 0x8B
	// FreshBase is the first page PF touches: 16 MiB, above everything
	// gonest's loader places for a tiny guest.
	FreshBase = 16 << 20
	// PFByte is what PF stores at the start of each fresh page.
	PFByte = 0x5A
	// HLTTimerPeriod is the LAPIC timer's initial count in periodic
	// mode, with the divider at 1: KVM's LAPIC counts it in ns of host
	// time (APIC_BUS_CYCLE_NS is 1 in arch/x86/kvm/lapic.h), so the timer
	// fires every 200 µs, the shortest period KVM allows by default
	// (min_timer_period_us in arch/x86/kvm/x86.c). A periodic timer is
	// armed once: a loop that re-armed a 1 µs one-shot timer each
	// iteration (one TMICT write more per iteration) was left halted for
	// good, its wakeup lost, in one lab run of about five, as G1's guest
	// and as G2 alike.
	HLTTimerPeriod = 200_000
	// lvtPeriodic is the LVT timer register's periodic mode (Intel SDM
	// vol. 3, 11.5.1, bits 18:17 = 01b).
	lvtPeriodic = 1 << 17
	// MaxIterations bounds N: every loop is counted in ESI, and PF needs
	// N pages of guest RAM above FreshBase.
	MaxIterations = 1 << 30
	// MaxPFIterations bounds a PF loop to 1 GiB of fresh memory.
	MaxPFIterations = 1 << 18
)

// Addresses the HLT guest uses for its IDT and its handler's vector.
const (
	idtAddr     = tinyelf.LoadAddr + 0x10000 // 4 KiB IDT, in RAM the image does not use
	idtrAddr    = idtAddr - 16               // the pseudo-descriptor lidt reads
	timerVector = 0x40
	lapicBase   = boot.LAPICAddr
	lapicEOI    = 0x0B0
	lapicSVR    = 0x0F0
	lapicLVTT   = 0x320
	lapicTMICT  = 0x380
	lapicTDCR   = 0x3E0
	codeSel     = boot.SelectorCode // gonest's 64-bit code segment
)

// ParseKind parses a workload name.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	sort.Strings(names)
	return "", fmt.Errorf("no workload %q (workloads: %s)", s, strings.Join(names, ", "))
}

// MemorySize is the guest RAM a workload of n iterations needs, in bytes:
// 16 MiB, plus the fresh pages of PF.
func MemorySize(k Kind, n uint32) uint64 {
	const base = 16 << 20
	if k != PF {
		return base
	}
	return FreshBase + (uint64(n)*4096+(1<<20)-1)&^((1<<20)-1) + base
}

// Code returns the guest's machine code: kind k, n iterations.
func Code(k Kind, n uint32) ([]byte, error) {
	limit := uint32(MaxIterations)
	if k == PF {
		limit = MaxPFIterations
	}
	if n > limit {
		return nil, fmt.Errorf("%s: %d iterations, at most %d", k, n, limit)
	}
	var a tinyelf.Asm
	marker(&a, guestabi.MarkerInitStarted)
	handler := 0
	if k == HLT {
		handler = hlt(&a)
	}
	marker(&a, guestabi.MarkerScenarioStart)
	switch k {
	case PIO:
		a.MovDX(POSTPort).MovAL(0)
	case MMIO:
		a.Raw(0xbb).Raw(le32(MMIOAddr)...) // mov ebx, MMIOAddr
	case MSR:
		a.Raw(0xb9).Raw(le32(MSRIndex)...) // mov ecx, MSRIndex
		a.Raw(0x31, 0xc0, 0x31, 0xd2)      // xor eax, eax; xor edx, edx
	case PF:
		a.Raw(0xbb).Raw(le32(FreshBase)...) // mov ebx, FreshBase
		a.MovAL(PFByte)
	case HLT:
		a.Raw(0xbb).Raw(le32(lapicBase)...) // mov ebx, LAPIC base
	case Spin:
		a.Raw(0xfb) // sti
	case CPUID:
	default:
		return nil, fmt.Errorf("no workload %q", k)
	}
	a.Raw(0xbe).Raw(le32(n)...) // mov esi, n
	a.Raw(0x85, 0xf6)           // test esi, esi
	skip := jcc32(&a, 0x84)     // jz past the loop
	top := len(a.Bytes())
	switch k {
	case PIO:
		a.OutB()
	case MMIO:
		a.StoreRBX() // mov [rbx], eax
	case CPUID:
		a.Raw(0x31, 0xc0, 0x0f, 0xa2) // xor eax, eax; cpuid
	case MSR:
		a.Raw(0x0f, 0x30) // wrmsr
	case PF:
		a.Raw(0x88, 0x03)                          // mov [rbx], al
		a.Raw(0x48, 0x81, 0xc3).Raw(le32(4096)...) // add rbx, 4096
	case HLT:
		a.StoreRBXL(lapicEOI, 0) // the previous iteration's interrupt is done
		a.Raw(0xfb, 0xf4, 0xfa)  // sti; hlt; cli
	case Spin:
		a.Raw(0x90) // nop
	}
	a.Raw(0xff, 0xce) // dec esi
	back := jcc32(&a, 0x85)
	patch(&a, back, top)
	patch(&a, skip, len(a.Bytes()))
	marker(&a, guestabi.MarkerScenarioEnd)
	a.Exit(guestabi.ExitPort, 0).Hlt()
	b := a.Bytes()
	if handler != 0 {
		// The handler's address went into the IDT before it was known;
		// it sits at the end of the image.
		h := len(b)
		b = append(b, timerHandler()...)
		patchIDT(b, handler, tinyelf.LoadAddr+uint32(h))
	}
	return b, nil
}

// ELF returns the bootable image of Code.
func ELF(k Kind, n uint32) ([]byte, error) {
	code, err := Code(k, n)
	if err != nil {
		return nil, err
	}
	return tinyelf.Build(code), nil
}

// marker writes m to the marker port.
func marker(a *tinyelf.Asm, m guestabi.Marker) {
	a.MovDX(guestabi.MarkerPort).MovAL(uint8(m)).OutB()
}

// hlt sets up the HLT workload: an IDT with the timer vector, the LAPIC
// enabled with its timer periodic on that vector, divider 1, started. It
// returns where the code stores the handler's address, patched by Code.
func hlt(a *tinyelf.Asm) int {
	// IDT gate (Intel SDM vol. 3, 6.14.1): offset 15:0, selector, IST 0,
	// type 0x8E (present, DPL 0, 64-bit interrupt gate), offset 31:16,
	// offset 63:32 (0: the handler is below 4 GiB).
	gate := uint32(idtAddr + timerVector*16)
	at := len(a.Bytes())
	a.StoreL(gate, codeSel<<16) // offset 15:0 patched into the low half
	a.StoreL(gate+4, 0x8E00)    // offset 31:16 patched into the high half
	a.StoreL(gate+8, 0).StoreL(gate+12, 0)
	a.StoreW(idtrAddr, 256*16-1).StoreQ(idtrAddr+2, idtAddr)
	a.Raw(0x0f, 0x01, 0x1c, 0x25).Raw(le32(idtrAddr)...) // lidt [idtrAddr]
	a.Raw(0xbb).Raw(le32(lapicBase)...)                  // mov ebx, LAPIC base
	a.StoreRBXL(lapicSVR, 0x1ff)                         // APIC on, spurious vector 0xff
	a.StoreRBXL(lapicTDCR, 0xb)                          // divide by 1
	a.StoreRBXL(lapicLVTT, lvtPeriodic|timerVector)      // periodic, unmasked
	a.StoreRBXL(lapicTMICT, HLTTimerPeriod)              // start it
	return at
}

// patchIDT puts handler's address into the two stores hlt emitted at at:
// each is "c7 04 25 <addr32> <imm32>", 11 bytes, imm32 at +7.
func patchIDT(b []byte, at int, handler uint32) {
	lo, hi := at+7, at+11+7
	putLE32(b[lo:], codeSel<<16|handler&0xffff)
	putLE32(b[hi:], handler&0xffff0000|0x8E00)
}

// timerHandler returns from the timer interrupt (iretq) and leaves its
// EOI to the loop.
func timerHandler() []byte { return []byte{0x48, 0xcf} }

// jcc32 emits a conditional jump with a 32-bit displacement (0f op rel32)
// and returns where the displacement goes.
func jcc32(a *tinyelf.Asm, op byte) int {
	a.Raw(0x0f, op, 0, 0, 0, 0)
	return len(a.Bytes()) - 4
}

// patch makes the rel32 at disp jump to target.
func patch(a *tinyelf.Asm, disp, target int) {
	putLE32(a.Bytes()[disp:], uint32(int32(target-(disp+4))))
}

func le32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }

func putLE32(b []byte, v uint32) { copy(b, le32(v)) }
