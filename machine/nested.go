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

// DescribeNestedState renders a nested state header in one line.
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
	return s + fmt.Sprintf(", size=%d", st.Size)
}
