package machine

import (
	"context"
	"fmt"

	"github.com/gonest/gonest/kvm"
)

// NestedStateText is one vCPU's decoded KVM_GET_NESTED_STATE: a header
// line, and the fields of vmcb12 or vmcs12 one per line when the state
// has them.
type NestedStateText struct {
	VCPU   int
	Text   string
	Detail []string
	// GuestMode is true when the vCPU was running a nested guest.
	GuestMode bool
	// Raw is what KVM returned, header included; nil when unavailable.
	Raw []byte
}

// NestedStates reads KVM_GET_NESTED_STATE of every vCPU and describes it:
// the format (VMX or SVM), whether the vCPU was running a nested guest
// (guest mode) when it stopped, and the L1 structures KVM tracks. Call it
// after Run and before Close.
func (m *Machine) NestedStates() []NestedStateText {
	return m.nestedStates(context.Background(), false)
}

// CaptureNestedStates reads every vCPU's nested state while the guest
// runs: each vCPU is kicked out of KVM_RUN, read on its own thread, and
// let go on (vcpu.VCPU.Inspect), so a G1 running its own guest is caught
// in guest mode. Call it from any goroutine while Run runs; ctx bounds
// the wait for each vCPU.
func (m *Machine) CaptureNestedStates(ctx context.Context) []NestedStateText {
	return m.nestedStates(ctx, true)
}

func (m *Machine) nestedStates(ctx context.Context, live bool) []NestedStateText {
	size, err := m.sys.CheckExtension(kvm.CapNestedState)
	if err != nil {
		return []NestedStateText{{VCPU: -1, Text: "unavailable: " + err.Error()}}
	}
	var out []NestedStateText
	for _, v := range m.vcpus {
		if size == 0 {
			// Nothing to read: no need to stop the vCPU for it.
			out = append(out, NestedStateText{VCPU: v.ID(), Text: "unavailable: " + kvm.ErrNoNestedState.Error()})
			continue
		}
		var (
			st  *kvm.NestedState
			raw []byte
		)
		read := func(kv *kvm.VCPU) {
			if st, err = kv.GetNestedState(size); err == nil {
				raw = st.Raw
			}
		}
		if live {
			if ierr := v.Inspect(ctx, read); ierr != nil {
				err = ierr
			}
		} else {
			read(v.KVM())
		}
		if err != nil {
			out = append(out, NestedStateText{VCPU: v.ID(), Text: "unavailable: " + err.Error()})
			continue
		}
		out = append(out, NestedStateText{VCPU: v.ID(), Text: DescribeNestedState(st),
			Detail: nestedDetail(st), GuestMode: st.GuestMode(), Raw: raw})
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
	if st.Flags&kvm.NestedGIFSet != 0 {
		s += ", GIF set"
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

// nestedDetail decodes vmcb12 or vmcs12, or says why it cannot.
func nestedDetail(st *kvm.NestedState) []string {
	var (
		name string
		d    interface{ Describe() []string }
		err  error
	)
	switch {
	case st.SVM != nil:
		name = "vmcb12"
		if data, e := st.SVMData(); data != nil || e != nil {
			d, err = data, e
		}
	case st.VMX != nil:
		name = "vmcs12"
		if data, e := st.VMXData(); data != nil || e != nil {
			d, err = data, e
		}
	}
	switch {
	case err != nil:
		return []string{name + ": " + err.Error()}
	case d != nil:
		return d.Describe()
	}
	return nil
}
