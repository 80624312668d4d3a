package kvm

import (
	"fmt"
	"strings"
)

// The VMX nested state's data is struct kvm_vmx_nested_state_data: vmcs12
// (KVM_STATE_NESTED_VMX_VMCS_SIZE, 4096 bytes), followed by the shadow
// vmcs12 while G2 runs with VMCS shadowing and a VMCS link pointer set
// (vmx_get_nested_state in arch/x86/kvm/vmx/nested.c). vmcs12 is there
// whenever G1 has a current VMCS, in guest mode or not, and in guest mode
// KVM first syncs vmcs02 into it.
//
// vmcs12 is KVM's own layout, not the hardware's: G1 reads and writes its
// VMCS only through VMREAD and VMWRITE, which KVM emulates on a packed
// struct vmcs12 whose field offsets are fixed as ABI for save and restore
// (struct vmcs12 and the CHECK_OFFSET list of vmx_check_vmcs12_offsets in
// arch/x86/kvm/vmx/vmcs12.h). The offsets below are those.
const (
	// VMCS12Revision is the revision identifier KVM's nested VMX reports
	// in IA32_VMX_BASIC and expects at the start of every VMXON and VMCS
	// region G1 uses (VMCS12_REVISION in vmcs12.h).
	VMCS12Revision = 0x11e57ed0
	// VMCS12Size is the size of one vmcs12 (or shadow vmcs12) in the data
	// (KVM_STATE_NESTED_VMX_VMCS_SIZE; VMCS12_SIZE in vmcs12.h).
	VMCS12Size = 0x1000

	vmcs12RevisionID        = 0 // hdr.revision_id (bit 31: shadow VMCS)
	vmcs12Abort             = 4
	vmcs12LaunchState       = 8
	vmcs12EPTPointer        = 120
	vmcs12GuestPhysAddr     = 168
	vmcs12VMCSLinkPointer   = 176
	vmcs12ExitQualification = 408
	vmcs12GuestCR0          = 424
	vmcs12GuestCR3          = 432
	vmcs12GuestCR4          = 440
	vmcs12GuestRSP          = 536
	vmcs12GuestRIP          = 544
	vmcs12GuestRFLAGS       = 552
	vmcs12HostCR3           = 592
	vmcs12HostRSP           = 664
	vmcs12HostRIP           = 672
	vmcs12PinBased          = 744
	vmcs12ProcBased         = 748
	vmcs12ExceptionBitmap   = 752
	vmcs12ExitControls      = 768
	vmcs12EntryControls     = 780
	vmcs12ProcBased2        = 804
	vmcs12InstructionError  = 808
	vmcs12ExitReason        = 812
	vmcs12ExitInstrLen      = 832
	vmcs12ActivityState     = 916
	vmcs12PreemptionTimer   = 928
	vmcs12VPID              = 960
	vmcs12GuestCSSelector   = 966
	vmcs12Used              = 998 // end of guest_pml_index, the last field
)

// VMCS12 holds the fields of KVM's vmcs12 that say what G1 asked for and
// where G2 stopped. Each field is named after its struct vmcs12 member.
type VMCS12 struct {
	RevisionID  uint32 // hdr.revision_id: VMCS12Revision, bit 31 set for a shadow VMCS
	Abort       uint32 // abort: the VMX-abort indicator
	LaunchState uint32 // launch_state: 1 after VMLAUNCH, 0 after VMCLEAR

	EPTPointer           uint64 // ept_pointer: G1's EPT for G2 (EPTP, SDM vol. 3, 25.6.11), 0 without EPT
	VMCSLinkPointer      uint64 // vmcs_link_pointer: the shadow VMCS, or all ones
	GuestPhysicalAddress uint64 // guest_physical_address: the G2 physical address of an EPT exit

	ExitQualification uint64 // exit_qualification
	GuestCR0          uint64
	GuestCR3          uint64
	GuestCR4          uint64
	GuestRSP          uint64
	GuestRIP          uint64
	GuestRFLAGS       uint64
	HostCR3           uint64
	HostRSP           uint64
	HostRIP           uint64 // host_rip: where G1 resumes after a G2 exit

	PinBased             uint32 // pin_based_vm_exec_control
	ProcBased            uint32 // cpu_based_vm_exec_control: the primary processor-based controls
	ExceptionBitmap      uint32 // exception_bitmap: the exceptions that exit to G1, by vector
	ExitControls         uint32 // vm_exit_controls
	EntryControls        uint32 // vm_entry_controls
	ProcBased2           uint32 // secondary_vm_exec_control: used while ProcBased bit 31 is set
	InstructionError     uint32 // vm_instruction_error of G1's last failed VMX instruction
	ExitReason           uint32 // vm_exit_reason: why G2 last exited to G1
	ExitInstrLen         uint32 // vm_exit_instruction_len
	ActivityState        uint32 // guest_activity_state: 0 active, 1 HLT, 2 shutdown, 3 wait-for-SIPI
	PreemptionTimerValue uint32 // vmx_preemption_timer_value

	VPID            uint16 // virtual_processor_id: the tag of G2's TLB entries
	GuestCSSelector uint16
}

// Launched reports whether the VMCS was launched (VMLAUNCH succeeded and
// no VMCLEAR followed).
func (v *VMCS12) Launched() bool { return v.LaunchState == 1 }

// ParseVMCS12 decodes a vmcs12 area; it needs at least the bytes struct
// vmcs12 uses.
func ParseVMCS12(b []byte) (*VMCS12, error) {
	if len(b) < vmcs12Used {
		return nil, fmt.Errorf("vmcs12: %d bytes, want at least %d", len(b), vmcs12Used)
	}
	u16 := func(off int) uint16 { return le.Uint16(b[off:]) }
	u32 := func(off int) uint32 { return le.Uint32(b[off:]) }
	u64 := func(off int) uint64 { return le.Uint64(b[off:]) }
	return &VMCS12{
		RevisionID: u32(vmcs12RevisionID), Abort: u32(vmcs12Abort), LaunchState: u32(vmcs12LaunchState),
		EPTPointer: u64(vmcs12EPTPointer), VMCSLinkPointer: u64(vmcs12VMCSLinkPointer),
		GuestPhysicalAddress: u64(vmcs12GuestPhysAddr), ExitQualification: u64(vmcs12ExitQualification),
		GuestCR0: u64(vmcs12GuestCR0), GuestCR3: u64(vmcs12GuestCR3), GuestCR4: u64(vmcs12GuestCR4),
		GuestRSP: u64(vmcs12GuestRSP), GuestRIP: u64(vmcs12GuestRIP), GuestRFLAGS: u64(vmcs12GuestRFLAGS),
		HostCR3: u64(vmcs12HostCR3), HostRSP: u64(vmcs12HostRSP), HostRIP: u64(vmcs12HostRIP),
		PinBased: u32(vmcs12PinBased), ProcBased: u32(vmcs12ProcBased), ExceptionBitmap: u32(vmcs12ExceptionBitmap),
		ExitControls: u32(vmcs12ExitControls), EntryControls: u32(vmcs12EntryControls), ProcBased2: u32(vmcs12ProcBased2),
		InstructionError: u32(vmcs12InstructionError), ExitReason: u32(vmcs12ExitReason), ExitInstrLen: u32(vmcs12ExitInstrLen),
		ActivityState: u32(vmcs12ActivityState), PreemptionTimerValue: u32(vmcs12PreemptionTimer),
		VPID: u16(vmcs12VPID), GuestCSSelector: u16(vmcs12GuestCSSelector),
	}, nil
}

// VMXNestedData is the decoded data of a VMX nested state.
type VMXNestedData struct {
	// VMCS12 is G1's current VMCS: what G1 asked of G2's entries and
	// exits, and G2's state.
	VMCS12 VMCS12
	// Shadow is the shadow vmcs12, the VMCS that G2's own VMREAD and
	// VMWRITE reach when G2 is itself a hypervisor; nil when KVM sent none.
	Shadow *VMCS12
}

// VMXData decodes the data of a VMX nested state; it returns nil and no
// error when the state holds none (G1 has no current VMCS).
func (n *NestedState) VMXData() (*VMXNestedData, error) {
	if n.VMX == nil {
		return nil, fmt.Errorf("kvm_nested_state: format %d is not VMX", n.Format)
	}
	if len(n.Data) == 0 {
		return nil, nil
	}
	first := n.Data[:min(len(n.Data), VMCS12Size)]
	v, err := ParseVMCS12(first)
	if err != nil {
		return nil, fmt.Errorf("kvm_vmx_nested_state_data: %w", err)
	}
	d := &VMXNestedData{VMCS12: *v}
	if len(n.Data) > VMCS12Size {
		rest := n.Data[VMCS12Size:min(len(n.Data), 2*VMCS12Size)]
		if d.Shadow, err = ParseVMCS12(rest); err != nil {
			return nil, fmt.Errorf("kvm_vmx_nested_state_data: shadow %w", err)
		}
	}
	return d, nil
}

// VM-execution control bits that decide exits (Intel SDM vol. 3, 25.6.1
// and 25.6.2; the names of arch/x86/include/asm/vmx.h without prefixes).
var (
	vmxPinBits = bitNames{0: "EXTERNAL_INTERRUPT_EXITING", 3: "NMI_EXITING", 5: "VIRTUAL_NMIS",
		6: "PREEMPTION_TIMER", 7: "POSTED_INTERRUPTS"}
	vmxProcBits = bitNames{2: "INTR_WINDOW_EXITING", 3: "USE_TSC_OFFSETTING", 7: "HLT_EXITING",
		9: "INVLPG_EXITING", 10: "MWAIT_EXITING", 11: "RDPMC_EXITING", 12: "RDTSC_EXITING",
		15: "CR3_LOAD_EXITING", 16: "CR3_STORE_EXITING", 17: "ACTIVATE_TERTIARY_CONTROLS",
		19: "CR8_LOAD_EXITING", 20: "CR8_STORE_EXITING", 21: "USE_TPR_SHADOW",
		22: "NMI_WINDOW_EXITING", 23: "MOV_DR_EXITING", 24: "UNCOND_IO_EXITING",
		25: "USE_IO_BITMAPS", 27: "MONITOR_TRAP_FLAG", 28: "USE_MSR_BITMAPS",
		29: "MONITOR_EXITING", 30: "PAUSE_EXITING", 31: "ACTIVATE_SECONDARY_CONTROLS"}
	vmxProc2Bits = bitNames{0: "VIRTUALIZE_APIC_ACCESSES", 1: "ENABLE_EPT", 2: "DESC_TABLE_EXITING",
		3: "ENABLE_RDTSCP", 4: "VIRTUALIZE_X2APIC_MODE", 5: "ENABLE_VPID", 6: "WBINVD_EXITING",
		7: "UNRESTRICTED_GUEST", 8: "APIC_REGISTER_VIRT", 9: "VIRTUAL_INTR_DELIVERY",
		10: "PAUSE_LOOP_EXITING", 11: "RDRAND_EXITING", 12: "ENABLE_INVPCID", 13: "ENABLE_VMFUNC",
		14: "SHADOW_VMCS", 15: "ENCLS_EXITING", 16: "RDSEED_EXITING", 17: "ENABLE_PML",
		18: "EPT_VIOLATION_VE", 20: "ENABLE_XSAVES", 22: "MODE_BASED_EPT_EXEC",
		25: "TSC_SCALING", 26: "ENABLE_USR_WAIT_PAUSE", 28: "BUS_LOCK_DETECTION", 29: "NOTIFY_VM_EXITING"}
)

// The default1 bits of the pin-based and primary processor-based
// controls (Intel SDM vol. 3D, A.3.1 and A.3.2): reserved, and set in
// every VMCS that does not use the true-controls MSRs to clear them, as
// KVM's vmcs12 for G2 has them (pin-based 0x7f in the Intel lab).
const (
	vmxPinDefault1  = 1<<1 | 1<<2 | 1<<4
	vmxProcDefault1 = 1<<1 | 1<<4 | 1<<5 | 1<<6 | 1<<8 | 1<<13 | 1<<14 | 1<<15 | 1<<16 | 1<<26
)

// controlNames names the bits set in a control field: named ones, then
// the unnamed default1 bits together, then any other as "bitN".
func controlNames(names bitNames, default1, v uint32) string {
	named := names.set(uint64(v &^ (default1 &^ names.mask())))
	var reserved []string
	for b := uint(0); b < 32; b++ {
		if _, ok := names[b]; !ok && default1&v&(1<<b) != 0 {
			reserved = append(reserved, fmt.Sprint(b))
		}
	}
	if len(reserved) > 0 {
		named = append(named, "default1 bits "+strings.Join(reserved, ","))
	}
	return strings.Join(orNone(named), " ")
}

// mask is the bits the table names.
func (t bitNames) mask() uint32 {
	var m uint32
	for b := range t {
		if b < 32 {
			m |= 1 << b
		}
	}
	return m
}

// Control bits Describe tests.
const (
	vmxProcSecondary = 1 << 31 // primary: activate secondary controls
	vmxProc2EPT      = 1 << 1  // secondary: enable EPT
	vmxExitFailEntry = 1 << 31 // vm_exit_reason: the exit is a failed VM entry
)

// vmInstructionErrors names the VM-instruction error numbers (Intel SDM
// vol. 3C, 31.4, "VM Instruction Error Numbers").
var vmInstructionErrors = map[uint32]string{
	1: "VMCALL executed in VMX root operation", 2: "VMCLEAR with invalid physical address",
	3: "VMCLEAR with VMXON pointer", 4: "VMLAUNCH with non-clear VMCS", 5: "VMRESUME with non-launched VMCS",
	6: "VMRESUME after VMXOFF", 7: "VM entry with invalid control field(s)",
	8: "VM entry with invalid host-state field(s)", 9: "VMPTRLD with invalid physical address",
	10: "VMPTRLD with VMXON pointer", 11: "VMPTRLD with incorrect VMCS revision identifier",
	12: "VMREAD/VMWRITE from/to unsupported VMCS component", 13: "VMWRITE to read-only VMCS component",
	15: "VMXON executed in VMX root operation", 16: "VM entry with invalid executive-VMCS pointer",
	17: "VM entry with non-launched executive VMCS", 18: "VM entry with executive-VMCS pointer not VMXON pointer",
	19: "VMCALL with non-clear VMCS", 20: "VMCALL with invalid VM-exit control fields",
	22: "VMCALL with incorrect MSEG revision identifier", 23: "VMXOFF under dual-monitor treatment of SMIs and SMM",
	24: "VMCALL with invalid SMM-monitor features", 25: "VM entry with invalid VM-execution control fields in executive VMCS",
	26: "VM entry with events blocked by MOV SS", 28: "invalid operand to INVEPT/INVVPID",
}

// VMInstructionErrorName names a VM-instruction error number, or says it
// has no name.
func VMInstructionErrorName(n uint32) string {
	if name, ok := vmInstructionErrors[n]; ok {
		return name
	}
	return "unnamed"
}

// EPTPDescription decodes an EPT pointer (SDM vol. 3, 25.6.11): the PML4
// (or PML5) address, the memory type and page-walk length, and whether
// accessed/dirty flags are enabled.
func EPTPDescription(eptp uint64) string {
	memType := "UC"
	if eptp&7 == 6 {
		memType = "WB"
	} else if eptp&7 != 0 {
		memType = fmt.Sprintf("type %d", eptp&7)
	}
	s := fmt.Sprintf("root %#x, %s, %d-level walk", eptp&^0xfff, memType, (eptp>>3&7)+1)
	if eptp&(1<<6) != 0 {
		s += ", A/D on"
	}
	return s
}

// Describe renders vmcs12, one line each: the controls that decide what
// happens to G2's exits, G2's state and its last exit, where G1 resumes,
// then the shadow vmcs12 when there is one.
func (d *VMXNestedData) Describe() []string {
	out := d.VMCS12.describe("vmcs12")
	if d.Shadow != nil {
		out = append(out, d.Shadow.describe("shadow vmcs12 (what G2's own VMREAD and VMWRITE reach)")...)
	}
	return out
}

func (v *VMCS12) describe(name string) []string {
	ept := "EPT off: G1 shadows G2's page tables"
	if v.ProcBased&vmxProcSecondary != 0 && v.ProcBased2&vmxProc2EPT != 0 {
		ept = fmt.Sprintf("EPTP %#x: %s", v.EPTPointer, EPTPDescription(v.EPTPointer))
	}
	proc2 := "secondary controls inactive"
	if v.ProcBased&vmxProcSecondary != 0 {
		proc2 = fmt.Sprintf("secondary controls %#x: %s", v.ProcBased2, strings.Join(orNone(vmxProc2Bits.set(uint64(v.ProcBased2))), " "))
	}
	launched := "not launched"
	if v.Launched() {
		launched = "launched"
	}
	exit := fmt.Sprintf("last exit G1 saw: basic reason %d (SDM vol. 3D, appendix C), qualification %#x", v.ExitReason&0xffff, v.ExitQualification)
	if v.ExitReason&vmxExitFailEntry != 0 {
		exit += ", a failed VM entry"
	}
	lines := []string{
		fmt.Sprintf("%s revision %#x, %s", name, v.RevisionID, launched),
		fmt.Sprintf("%s pin-based controls %#x: %s", name, v.PinBased, controlNames(vmxPinBits, vmxPinDefault1, v.PinBased)),
		fmt.Sprintf("%s processor-based controls %#x: %s", name, v.ProcBased, controlNames(vmxProcBits, vmxProcDefault1, v.ProcBased)),
		name + " " + proc2,
		fmt.Sprintf("exception bitmap %#x: %s", v.ExceptionBitmap, strings.Join(orNone(exceptionNames.set(uint64(v.ExceptionBitmap))), " ")),
		ept,
		fmt.Sprintf("VPID %d, VM-exit controls %#x, VM-entry controls %#x, preemption timer %d", v.VPID, v.ExitControls, v.EntryControls, v.PreemptionTimerValue),
		fmt.Sprintf("G2 (vmcs12 guest state): rip %#x rsp %#x rflags %#x cr0 %#x cr3 %#x cr4 %#x, activity state %d",
			v.GuestRIP, v.GuestRSP, v.GuestRFLAGS, v.GuestCR0, v.GuestCR3, v.GuestCR4, v.ActivityState),
		exit,
		fmt.Sprintf("G1 resumes at host rip %#x rsp %#x cr3 %#x", v.HostRIP, v.HostRSP, v.HostCR3),
	}
	if v.InstructionError != 0 {
		lines = append(lines, fmt.Sprintf("VM-instruction error %d: %s", v.InstructionError, VMInstructionErrorName(v.InstructionError)))
	}
	return lines
}
