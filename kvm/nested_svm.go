package kvm

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// The SVM nested state's data is a struct vmcb (KVM_STATE_NESTED_SVM_VMCB_SIZE,
// 4096 bytes) holding two different things (svm_get_nested_state in
// arch/x86/kvm/svm/nested.c):
//
//   - at 0, the control area of vmcb12, the VMCB G1 gave its VMRUN, as KVM
//     cached it at that VMRUN (svm->nested.ctl): the intercepts G1 asked
//     for, its nested CR3, ASID, int_ctl, the event to inject;
//   - at 0x400, G1's own save area (vmcb01's): G1's registers as they were
//     when it executed VMRUN, which KVM restores at the next #VMEXIT to G1.
//
// G2's own registers are not in it: they live in vmcb02 and reach
// userspace through KVM_GET_REGS and friends. The layout of both areas is
// the hardware's (AMD APM vol. 2, appendix B, tables B-1 and B-2).
const (
	svmSaveAreaOffset = 0x400
	// SVMNestedDataSize is the size of the SVM nested state's data.
	SVMNestedDataSize = 4096 // KVM_STATE_NESTED_SVM_VMCB_SIZE
)

// SVMControl is the start of a VMCB control area, up to next_rip (APM vol.
// 2, table B-1; struct vmcb_control_area in arch/x86/include/asm/svm.h).
type SVMControl struct {
	// Intercepts are the intercept vectors: 0 CR reads (bits 15:0) and
	// writes (31:16), 1 DR reads and writes, 2 exceptions by vector, 3 and
	// 4 instructions and events, 5 more instructions (SVMInterceptNames).
	Intercepts        [6]uint32
	_                 [9]uint32 // reserved, 0x18
	PauseFilterThresh uint16    // 0x3c
	PauseFilterCount  uint16    // 0x3e
	IOPMBase          uint64    // 0x40: I/O permission map
	MSRPMBase         uint64    // 0x48: MSR permission map
	TSCOffset         uint64    // 0x50
	ASID              uint32    // 0x58: the address space G2's TLB entries are tagged with
	TLBCtl            uint8     // 0x5c: TLB flush at VMRUN (SVMTLBControlName)
	_                 [3]uint8
	IntCtl            uint32 // 0x60: virtual interrupt control (SVMIntCtlNames)
	IntVector         uint32 // 0x64
	IntState          uint32 // 0x68: bit 0, interrupt shadow
	_                 [4]uint8
	ExitCode          uint32 // 0x70: the last #VMEXIT G1 saw, as cached at VMRUN
	ExitCodeHi        uint32 // 0x74
	ExitInfo1         uint64 // 0x78
	ExitInfo2         uint64 // 0x80
	ExitIntInfo       uint32 // 0x88
	ExitIntInfoErr    uint32 // 0x8c
	NestedCtl         uint64 // 0x90: bit 0 nested paging, 1 SEV, 2 SEV-ES
	AVICVAPICBar      uint64 // 0x98
	GHCBGPA           uint64 // 0xa0
	EventInj          uint32 // 0xa8: event to inject into G2 at VMRUN
	EventInjErr       uint32 // 0xac
	NestedCR3         uint64 // 0xb0: G1's nested page table root (G1 physical)
	VirtExt           uint64 // 0xb8: bit 0 LBR virtualization, 1 VMLOAD/VMSAVE virtualization
	Clean             uint32 // 0xc0: VMCB clean bits
	_                 uint32
	NextRIP           uint64 // 0xc8
}

// SVMSave is the part of a VMCB save area gonest shows (APM vol. 2,
// table B-2; struct vmcb_save_area).
type SVMSave struct {
	_      [160]byte // ES, CS, SS, DS, FS, GS, GDTR, LDTR, IDTR, TR
	_      [42]byte
	VMPL   uint8 // 0xca
	CPL    uint8 // 0xcb
	_      [4]byte
	EFER   uint64 // 0xd0
	_      [112]byte
	CR4    uint64 // 0x148
	CR3    uint64 // 0x150
	CR0    uint64 // 0x158
	DR7    uint64 // 0x160
	DR6    uint64 // 0x168
	RFLAGS uint64 // 0x170
	RIP    uint64 // 0x178
	_      [88]byte
	RSP    uint64 // 0x1d8
	_      [24]byte
	RAX    uint64 // 0x1f8
}

// SVMNestedData is the decoded data of an SVM nested state.
type SVMNestedData struct {
	// Control is vmcb12's control area: what G1 asked of its VMRUN.
	Control SVMControl
	// L1Save is G1's own save area: G1's state at its VMRUN.
	L1Save SVMSave
}

// SVMData decodes the data of an SVM nested state. It is present only in
// guest mode; otherwise SVMData returns nil and no error.
func (n *NestedState) SVMData() (*SVMNestedData, error) {
	if n.SVM == nil {
		return nil, fmt.Errorf("kvm_nested_state: format %d is not SVM", n.Format)
	}
	if len(n.Data) == 0 {
		return nil, nil
	}
	need := svmSaveAreaOffset + binary.Size(SVMSave{})
	if len(n.Data) < need {
		return nil, fmt.Errorf("kvm_svm_nested_state_data: %d bytes, want at least %d", len(n.Data), need)
	}
	d := new(SVMNestedData)
	if _, err := binary.Decode(n.Data, le, &d.Control); err != nil {
		return nil, fmt.Errorf("vmcb12 control area: %w", err)
	}
	if _, err := binary.Decode(n.Data[svmSaveAreaOffset:], le, &d.L1Save); err != nil {
		return nil, fmt.Errorf("vmcb01 save area: %w", err)
	}
	return d, nil
}

// bitNames is a table of names for the bits of a register, by bit number.
type bitNames map[uint]string

// set returns the names of the bits set in v, lowest bit first; a set bit
// the table does not name is shown as "bitN".
func (t bitNames) set(v uint64) []string {
	var out []string
	for b := uint(0); b < 64; b++ {
		if v&(1<<b) == 0 {
			continue
		}
		if n, ok := t[b]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("bit%d", b))
		}
	}
	return out
}

// svmInterceptWords names the bits of intercept vectors 3, 4 and 5 (enum
// intercept_words in arch/x86/include/asm/svm.h; APM vol. 2, table B-1).
var svmInterceptWords = [6]bitNames{
	3: {0: "INTR", 1: "NMI", 2: "SMI", 3: "INIT", 4: "VINTR", 5: "CR0_SEL_WRITE",
		6: "IDTR_READ", 7: "GDTR_READ", 8: "LDTR_READ", 9: "TR_READ",
		10: "IDTR_WRITE", 11: "GDTR_WRITE", 12: "LDTR_WRITE", 13: "TR_WRITE",
		14: "RDTSC", 15: "RDPMC", 16: "PUSHF", 17: "POPF", 18: "CPUID", 19: "RSM",
		20: "IRET", 21: "INTn", 22: "INVD", 23: "PAUSE", 24: "HLT", 25: "INVLPG",
		26: "INVLPGA", 27: "IOIO", 28: "MSR", 29: "TASK_SWITCH", 30: "FERR_FREEZE",
		31: "SHUTDOWN"},
	4: {0: "VMRUN", 1: "VMMCALL", 2: "VMLOAD", 3: "VMSAVE", 4: "STGI", 5: "CLGI",
		6: "SKINIT", 7: "RDTSCP", 8: "ICEBP", 9: "WBINVD", 10: "MONITOR", 11: "MWAIT",
		12: "MWAIT_COND", 13: "XSETBV", 14: "RDPRU", 15: "EFER_WRITE_TRAP",
		16: "CR0_WRITE_TRAP", 17: "CR1_WRITE_TRAP", 18: "CR2_WRITE_TRAP",
		19: "CR3_WRITE_TRAP", 20: "CR4_WRITE_TRAP", 21: "CR5_WRITE_TRAP",
		22: "CR6_WRITE_TRAP", 23: "CR7_WRITE_TRAP", 24: "CR8_WRITE_TRAP"},
	5: {0: "INVLPGB", 1: "INVLPGB_ILLEGAL", 2: "INVPCID", 3: "MCOMMIT", 4: "TLBSYNC"},
}

// exceptionNames names x86 exception vectors (Intel SDM vol. 3, table 6-1;
// AMD APM vol. 2, section 8.2), the bits of an exception bitmap.
var exceptionNames = bitNames{0: "#DE", 1: "#DB", 2: "NMI", 3: "#BP", 4: "#OF",
	5: "#BR", 6: "#UD", 7: "#NM", 8: "#DF", 10: "#TS", 11: "#NP", 12: "#SS",
	13: "#GP", 14: "#PF", 16: "#MF", 17: "#AC", 18: "#MC", 19: "#XM", 20: "#VE",
	21: "#CP", 29: "#VC", 30: "#SX"}

// SVMInterceptNames names what a VMCB intercepts: CR and DR accesses as
// "CR0 read", "DR7 write", exceptions as "#PF", and instructions and
// events by their intercept name ("CPUID", "IOIO", "VMRUN").
func SVMInterceptNames(in [6]uint32) []string {
	var out []string
	regs := func(prefix string, v uint32) {
		for b := uint(0); b < 32; b++ {
			if v&(1<<b) == 0 {
				continue
			}
			op := "read"
			if b >= 16 {
				op = "write"
			}
			out = append(out, fmt.Sprintf("%s%d %s", prefix, b%16, op))
		}
	}
	regs("CR", in[0])
	regs("DR", in[1])
	out = append(out, exceptionNames.set(uint64(in[2]))...)
	for w := 3; w < 6; w++ {
		out = append(out, svmInterceptWords[w].set(uint64(in[w]))...)
	}
	return out
}

// svmIntCtlBits names the flag bits of int_ctl (APM vol. 2, table B-1;
// V_* in arch/x86/include/asm/svm.h). V_TPR (3:0) and V_INTR_PRIO (19:16)
// are numbers, shown apart.
var svmIntCtlBits = bitNames{8: "V_IRQ", 9: "V_GIF", 11: "V_NMI_PENDING", 12: "V_NMI_BLOCKING",
	20: "V_IGN_TPR", 24: "V_INTR_MASKING", 25: "V_GIF_ENABLE", 26: "V_NMI_ENABLE",
	30: "X2APIC_MODE", 31: "AVIC_ENABLE"}

// SVMIntCtlNames describes int_ctl: its flags, then V_TPR and V_INTR_PRIO.
func SVMIntCtlNames(v uint32) []string {
	const numbers = 0xf | 0xf<<16
	out := svmIntCtlBits.set(uint64(v &^ numbers))
	return append(out, fmt.Sprintf("V_TPR=%d", v&0xf), fmt.Sprintf("V_INTR_PRIO=%d", v>>16&0xf))
}

// SVMTLBControlName names tlb_ctl (TLB_CONTROL_* in asm/svm.h).
func SVMTLBControlName(v uint8) string {
	switch v {
	case 0:
		return "no flush"
	case 1:
		return "flush all ASIDs"
	case 3:
		return "flush this ASID"
	case 7:
		return "flush this ASID's non-global entries"
	}
	return fmt.Sprintf("tlb_ctl %#x", v)
}

// Describe renders the fields that decide what happens to G2's exits, one
// line each.
func (d *SVMNestedData) Describe() []string {
	c, s := &d.Control, &d.L1Save
	np := "off: G1 shadows G2's page tables"
	if c.NestedCtl&1 != 0 {
		np = fmt.Sprintf("on, nCR3=%#x (G1's nested page table root)", c.NestedCR3)
	}
	return []string{
		"vmcb12 intercepts (what G1 asked to see): " + strings.Join(orNone(SVMInterceptNames(c.Intercepts)), " "),
		fmt.Sprintf("vmcb12 vectors: CR %#08x DR %#08x exceptions %#08x word3 %#08x word4 %#08x word5 %#08x",
			c.Intercepts[0], c.Intercepts[1], c.Intercepts[2], c.Intercepts[3], c.Intercepts[4], c.Intercepts[5]),
		"nested paging " + np,
		fmt.Sprintf("ASID %d, %s; int_ctl %#x (%s); event_inj %#x", c.ASID, SVMTLBControlName(c.TLBCtl),
			c.IntCtl, strings.Join(SVMIntCtlNames(c.IntCtl), " "), c.EventInj),
		fmt.Sprintf("I/O permission map %#x, MSR permission map %#x, TSC offset %#x", c.IOPMBase, c.MSRPMBase, c.TSCOffset),
		fmt.Sprintf("G1 at its VMRUN: rip %#x rsp %#x rax %#x (vmcb12) cr0 %#x cr3 %#x cr4 %#x efer %#x cpl %d",
			s.RIP, s.RSP, s.RAX, s.CR0, s.CR3, s.CR4, s.EFER, s.CPL),
	}
}

func orNone(s []string) []string {
	if len(s) == 0 {
		return []string{"none"}
	}
	return s
}
