package machine

import (
	"fmt"

	"github.com/gonest/gonest/kvm"
)

// NestedStateText is one vCPU's decoded KVM_GET_NESTED_STATE header.
type NestedStateText struct {
	VCPU int
	Text string
}

// NestedStates reads KVM_GET_NESTED_STATE of every vCPU and describes it:
// the format (VMX or SVM), whether the vCPU was running a nested guest
// (guest mode) when it stopped, and the L1 structures KVM tracks. Call it
// after Run and before Close.
func (m *Machine) NestedStates() []NestedStateText {
	size, err := m.sys.CheckExtension(kvm.CapNestedState)
	if err != nil {
		return []NestedStateText{{VCPU: -1, Text: "unavailable: " + err.Error()}}
	}
	var out []NestedStateText
	for _, v := range m.vcpus {
		st, err := v.KVM().GetNestedState(size)
		if err != nil {
			out = append(out, NestedStateText{VCPU: v.ID(), Text: "unavailable: " + err.Error()})
			continue
		}
		out = append(out, NestedStateText{VCPU: v.ID(), Text: DescribeNestedState(st)})
	}
	return out
}

// DescribeNestedState renders a nested state: the header in one line,
// then, for VMX, one line per vmcs12 KVM included.
func DescribeNestedState(st *kvm.NestedState) string {
	mode := "L1 (not in guest mode)"
	if st.GuestMode() {
		mode = "guest mode: an L2 guest was running"
	}
	s := fmt.Sprintf("flags=%#x %s", st.Flags, mode)
	if st.RunPending() {
		s += ", nested run pending"
	}
	switch {
	case st.VMX != nil:
		s = "format=VMX " + s
		if st.VMX.VMXONPA == ^uint64(0) {
			s += ", VMXON off"
		} else {
			s += fmt.Sprintf(", vmxon=%#x", st.VMX.VMXONPA)
		}
		if st.VMX.VMCS12PA == ^uint64(0) {
			s += ", no current VMCS12"
		} else {
			s += fmt.Sprintf(", vmcs12=%#x", st.VMX.VMCS12PA)
		}
	case st.SVM != nil:
		s = "format=SVM " + s + fmt.Sprintf(", vmcb12=%#x", st.SVM.VMCBPA)
	default:
		s = fmt.Sprintf("format=%d ", st.Format) + s
	}
	s += fmt.Sprintf(", size=%d", st.Size)
	if v := st.VMCS12(); v != nil {
		s += "\n  vmcs12 (L1's VMCS for L2): " + describeVMCS12(v)
	}
	if v := st.ShadowVMCS12(); v != nil {
		s += "\n  shadow vmcs12 (what L2's VMREAD/VMWRITE reach): " + describeVMCS12(v)
	}
	return s
}

// describeVMCS12 renders the vmcs12 fields that say what L1 asked for and
// where L2 last stopped.
func describeVMCS12(v *kvm.VMCS12) string {
	launched := "not launched"
	if v.LaunchState == 1 {
		launched = "launched"
	}
	s := fmt.Sprintf("revision %#x, %s; guest rip=%#x rsp=%#x rflags=%#x cr0=%#x cr3=%#x cr4=%#x; host rip=%#x cr3=%#x; "+
		"controls pin=%#x proc=%#x proc2=%#x exit=%#x entry=%#x; EPTP=%#x, VPID=%d",
		v.Revision, launched, v.GuestRIP, v.GuestRSP, v.GuestRFLAGS, v.GuestCR0, v.GuestCR3, v.GuestCR4, v.HostRIP, v.HostCR3,
		v.PinBased, v.ProcBased, v.ProcBased2, v.ExitControls, v.EntryControls, v.EPTPointer, v.VPID)
	if v.ExitReason != 0 || v.ExitQualification != 0 {
		s += fmt.Sprintf("; last exit %s, qualification %#x", vmxExitReason(v.ExitReason), v.ExitQualification)
	}
	if v.InstructionError != 0 {
		s += fmt.Sprintf("; VM-instruction error %d (%s)", v.InstructionError, vmInstructionError(v.InstructionError))
	}
	return s
}

// vmxExitReasons names the basic exit reasons (bits 15:0 of the exit
// reason) a nested guest commonly has (SDM Vol. 3D, Appendix C).
var vmxExitReasons = map[uint32]string{
	0: "exception or NMI", 1: "external interrupt", 2: "triple fault", 7: "interrupt window",
	9: "task switch", 10: "CPUID", 12: "HLT", 18: "VMCALL", 28: "control-register access",
	30: "I/O instruction", 31: "RDMSR", 32: "WRMSR", 33: "VM-entry failure: invalid guest state",
	48: "EPT violation", 49: "EPT misconfiguration", 52: "VMX-preemption timer expired",
}

// vmxExitReason renders an exit reason: its basic reason, named where
// known, and the VM-entry failure flag (bit 31).
func vmxExitReason(r uint32) string {
	basic := r & 0xffff
	s := fmt.Sprintf("%d", basic)
	if name, ok := vmxExitReasons[basic]; ok {
		s += " (" + name + ")"
	}
	if r&(1<<31) != 0 {
		s += ", VM-entry failure"
	}
	return s
}

// vmInstructionErrors names the VM-instruction error numbers (SDM Vol.
// 3C, 31.4 "VM Instruction Error Numbers").
var vmInstructionErrors = map[uint32]string{
	1: "VMCALL executed in VMX root operation", 2: "VMCLEAR with invalid physical address",
	3: "VMCLEAR with VMXON pointer", 4: "VMLAUNCH with non-clear VMCS", 5: "VMRESUME with non-launched VMCS",
	6: "VMRESUME after VMXOFF", 7: "VM entry with invalid control field(s)",
	8: "VM entry with invalid host-state field(s)", 9: "VMPTRLD with invalid physical address",
	10: "VMPTRLD with VMXON pointer", 11: "VMPTRLD with incorrect VMCS revision identifier",
	12: "VMREAD/VMWRITE from/to unsupported VMCS component", 13: "VMWRITE to read-only VMCS component",
	15: "VMXON executed in VMX root operation", 26: "VM entry with events blocked by MOV SS",
	28: "invalid operand to INVEPT/INVVPID",
}

func vmInstructionError(n uint32) string {
	if name, ok := vmInstructionErrors[n]; ok {
		return name
	}
	return "unnamed"
}
