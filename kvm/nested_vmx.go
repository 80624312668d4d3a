package kvm

import (
	"fmt"
	"strings"
)

// The VMX nested state's data is struct kvm_vmx_nested_state_data: vmcs12
// (KVM_STATE_NESTED_VMX_VMCS_SIZE, 4096 bytes), followed by the shadow
// vmcs12 when G2 runs with VMCS shadowing (vmx_get_nested_state in
// arch/x86/kvm/vmx/nested.c). It is there whenever G1 has a current VMCS,
// in guest mode or not, and in guest mode KVM first syncs vmcs02 into it.
// vmcs12 is KVM's own layout, not the hardware's: its field offsets are
// fixed as ABI by the CHECK_OFFSET list in arch/x86/kvm/vmx/vmcs12.h, which
// the offsets below follow.
const (
	// VMXNestedVMCSSize is the size of one vmcs12 in the data.
	VMXNestedVMCSSize = 4096 // KVM_STATE_NESTED_VMX_VMCS_SIZE

	vmcs12RevisionID     = 0   // hdr.revision_id (bit 31: shadow VMCS)
	vmcs12LaunchState    = 8   // launch_state
	vmcs12EPTPointer     = 120 // ept_pointer
	vmcs12GuestCR3       = 432 // guest_cr3
	vmcs12GuestRIP       = 544 // guest_rip
	vmcs12PinBased       = 744 // pin_based_vm_exec_control
	vmcs12ProcBased      = 748 // cpu_based_vm_exec_control
	vmcs12ExceptionBmp   = 752 // exception_bitmap
	vmcs12ExitControls   = 768 // vm_exit_controls
	vmcs12EntryControls  = 780 // vm_entry_controls
	vmcs12ProcBased2     = 804 // secondary_vm_exec_control
	vmcs12ExitReason     = 812 // vm_exit_reason
	vmcs12VPID           = 960 // virtual_processor_id (u16)
	vmcs12DecodedMinimum = vmcs12VPID + 2
)

// VMCS12 holds the vmcs12 fields that decide which of G2's exits G1 sees.
type VMCS12 struct {
	RevisionID    uint32
	Launched      bool
	PinBased      uint32 // pin-based VM-execution controls
	ProcBased     uint32 // primary processor-based VM-execution controls
	ProcBased2    uint32 // secondary controls (used when ProcBased bit 31 is set)
	ExceptionBmp  uint32 // exceptions that exit to G1, by vector
	ExitControls  uint32
	EntryControls uint32
	EPTP          uint64 // G1's EPT pointer for G2 (SDM vol. 3, 25.6.11)
	VPID          uint16
	GuestCR3      uint64
	GuestRIP      uint64
	ExitReason    uint32 // the last exit G1 saw
}

// VMXData decodes vmcs12 from the data of a VMX nested state; it returns
// nil and no error when the state holds none (G1 has no current VMCS).
func (n *NestedState) VMXData() (*VMCS12, error) {
	if n.VMX == nil {
		return nil, fmt.Errorf("kvm_nested_state: format %d is not VMX", n.Format)
	}
	if len(n.Data) == 0 {
		return nil, nil
	}
	if len(n.Data) < vmcs12DecodedMinimum {
		return nil, fmt.Errorf("kvm_vmx_nested_state_data: %d bytes, want at least %d", len(n.Data), vmcs12DecodedMinimum)
	}
	b := n.Data
	u32 := func(off int) uint32 { return le.Uint32(b[off:]) }
	return &VMCS12{
		RevisionID:    u32(vmcs12RevisionID),
		Launched:      u32(vmcs12LaunchState) != 0,
		PinBased:      u32(vmcs12PinBased),
		ProcBased:     u32(vmcs12ProcBased),
		ProcBased2:    u32(vmcs12ProcBased2),
		ExceptionBmp:  u32(vmcs12ExceptionBmp),
		ExitControls:  u32(vmcs12ExitControls),
		EntryControls: u32(vmcs12EntryControls),
		EPTP:          le.Uint64(b[vmcs12EPTPointer:]),
		VPID:          le.Uint16(b[vmcs12VPID:]),
		GuestCR3:      le.Uint64(b[vmcs12GuestCR3:]),
		GuestRIP:      le.Uint64(b[vmcs12GuestRIP:]),
		ExitReason:    u32(vmcs12ExitReason),
	}, nil
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

// Describe renders the fields that decide what happens to G2's exits, one
// line each.
func (v *VMCS12) Describe() []string {
	ept := "EPT off: G1 shadows G2's page tables"
	if v.ProcBased&(1<<31) != 0 && v.ProcBased2&(1<<1) != 0 {
		ept = "EPTP " + fmt.Sprintf("%#x", v.EPTP) + ": " + EPTPDescription(v.EPTP)
	}
	proc2 := "secondary controls inactive"
	if v.ProcBased&(1<<31) != 0 {
		proc2 = fmt.Sprintf("%#x: %s", v.ProcBased2, strings.Join(orNone(vmxProc2Bits.set(uint64(v.ProcBased2))), " "))
	}
	return []string{
		fmt.Sprintf("vmcs12 pin-based controls %#x: %s", v.PinBased, strings.Join(orNone(vmxPinBits.set(uint64(v.PinBased))), " ")),
		fmt.Sprintf("vmcs12 processor-based controls %#x: %s", v.ProcBased, strings.Join(orNone(vmxProcBits.set(uint64(v.ProcBased))), " ")),
		"vmcs12 secondary controls " + proc2,
		fmt.Sprintf("exception bitmap %#x: %s", v.ExceptionBmp, strings.Join(orNone(exceptionNames.set(uint64(v.ExceptionBmp))), " ")),
		ept,
		fmt.Sprintf("VPID %d, VM-exit controls %#x, VM-entry controls %#x, launched %t", v.VPID, v.ExitControls, v.EntryControls, v.Launched),
		fmt.Sprintf("G2 (vmcs12 guest state): rip %#x cr3 %#x; last exit reason G1 saw %d", v.GuestRIP, v.GuestCR3, v.ExitReason&0xffff),
	}
}
