package doctor

import (
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/gonest/gonest/hostinfo"
)

// ModuleParam is one parameter of the host's KVM vendor module that
// decides how fast a nested guest runs, with what it does.
type ModuleParam struct {
	Name string `json:"name"`
	// Value is the parameter as /sys/module/MODULE/parameters/NAME says
	// it; empty when unreadable (the kernel lacks it).
	Value string `json:"value"`
	// On is the value read as a boolean.
	On bool `json:"on"`
	// Effect is what the parameter decides for G1 and G2, with its
	// source in the kernel.
	Effect string `json:"effect"`
	// Slows is true when the value costs the nested guest exits it could
	// have been spared: the parameter is off where on would help.
	Slows bool `json:"slows"`
}

// paramDoc describes one parameter; optional ones (off by default, or
// that do not apply while G1 runs its guest) never count as slowing.
type paramDoc struct {
	name     string
	on, off  string
	optional bool
}

// speedParams are the parameters of each vendor module that decide what a
// nested exit costs, from arch/x86/kvm/svm/svm.c and arch/x86/kvm/vmx/
// (Linux 6.1). The kernel turns a parameter off at load time when the CPU
// lacks the feature (svm_hardware_setup, nested_vmx_hardware_setup), so
// the value read is what KVM really uses.
var speedParams = map[hostinfo.Backend][]paramDoc{
	hostinfo.BackendAMD: {
		{name: "nrips",
			on:  "next RIP saved on #VMEXIT: KVM skips an intercepted instruction without decoding it, and offers NRIPS to G1 (svm_set_cpu_caps), so G1's KVM need not decode G2's either",
			off: "no next-RIP save: KVM decodes every intercepted instruction to find the next one (insn_emulation), and G1 gets no NRIPS for G2 (svm_set_cpu_caps)"},
		{name: "vls",
			on:  "virtual VMLOAD/VMSAVE: G1's VMLOADs and VMSAVE around each of its VMRUNs (__svm_vcpu_run in svm/vmenter.S) run without exits (init_vmcb_after_set_cpuid clears their intercepts)",
			off: "no virtual VMLOAD/VMSAVE: G1's two VMLOADs and one VMSAVE per entry into G2 (__svm_vcpu_run in svm/vmenter.S) each exit to this KVM (init_vmcb_after_set_cpuid keeps the intercepts)"},
		{name: "vgif",
			on:  "virtual GIF: G1's CLGI and STGI around each VMRUN (svm_vcpu_run) run without exits (init_vmcb sets V_GIF_ENABLE), and G1 is offered VGIF (svm_set_cpu_caps)",
			off: "no virtual GIF: G1's CLGI and STGI, one pair per entry into G2 (svm_vcpu_run), each exit to this KVM (clgi_interception, stgi_interception)"},
		{name: "avic", optional: true,
			on:  "AVIC: G1's local APIC accesses and interrupts run without exits while G1 runs itself; inhibited while it runs G2 (avic_vcpu_get_apicv_inhibit_reasons: APICV_INHIBIT_REASON_NESTED)",
			off: "no AVIC (the default, svm.c): G1's local APIC is emulated, each EOI and timer write an exit; G2's would be in any case (AVIC is inhibited in guest mode)"},
	},
	hostinfo.BackendIntel: {
		{name: "ept",
			on:  "EPT for G1, and EPT emulated for G1's guests: G2's memory goes through G1's EPT tables shadowed by this KVM (nested_vmx_setup_ctls_msrs)",
			off: "no EPT: this KVM shadows G1's page tables, and G1 gets no EPT for G2, so every page-table change of G2 exits too"},
		{name: "vpid",
			on:  "VPID: G2 runs with its own TLB tag, vpid02 (prepare_vmcs02_early_rare), so G1's and G2's TLB entries survive the switches between them",
			off: "no VPID: G1 gets no VPID for G2, so each switch between G1 and G2 flushes G1's guest TLB (nested_vmx_transition_tlb_flush)"},
		{name: "enable_shadow_vmcs",
			on:  "shadow VMCS: G1's VMREAD and VMWRITE of the common fields run without exits (set_current_vmptr links vmcs01's shadow VMCS); KVM advertises shadow VMCS to G1 whatever this says, because it emulates it (nested_vmx_setup_ctls_msrs)",
			off: "no shadow VMCS: each VMREAD and VMWRITE of G1, dozens per exit of G2 it handles, exits to this KVM, although G1 is still told it has shadow VMCS (nested_vmx_setup_ctls_msrs emulates it)"},
		{name: "enable_apicv", optional: true,
			on:  "APIC virtualization: G1's EOIs and interrupts run without exits, and G1 is offered posted interrupts for G2 (nested_vmx_setup_ctls_msrs)",
			off: "no APIC virtualization: G1's local APIC is emulated, each EOI an exit, and G1 gets no posted interrupts for G2"},
	},
}

// ReadSpeedParams reads the speed parameters of backend's module. It
// returns an empty list for a backend that has none (kvm_pvm, no KVM).
func ReadSpeedParams(fsys fs.FS, backend hostinfo.Backend) []ModuleParam {
	out := []ModuleParam{}
	for _, d := range speedParams[backend] {
		p := ModuleParam{Name: d.name}
		data, err := fs.ReadFile(fsys, "sys/module/"+string(backend)+"/parameters/"+d.name)
		if err != nil {
			p.Effect = "unreadable: this kernel's " + string(backend) + " has no such parameter"
			out = append(out, p)
			continue
		}
		p.Value = strings.TrimSpace(string(data))
		p.On = hostinfo.Enabled(p.Value)
		p.Effect = d.off
		if p.On {
			p.Effect = d.on
		}
		p.Slows = !p.On && !d.optional
		out = append(out, p)
	}
	return out
}

// checkSpeedParams fills Report.SpeedParams.
func (e *examination) checkSpeedParams() {
	e.r.SpeedParams = ReadSpeedParams(e.h.FS, e.backend)
}

// writeSpeedParams prints the parameters after the checks: one line each,
// "slows" marking those that cost a nested guest exits.
func (r *Report) writeSpeedParams(w io.Writer) error {
	if len(r.SpeedParams) == 0 {
		return nil
	}
	if _, err := fmt.Fprintf(w, "nested speed: %s parameters of this machine's KVM (L0 to the guests it runs)\n", r.Backend); err != nil {
		return err
	}
	for _, p := range r.SpeedParams {
		mark, value := "", p.Value
		if p.Slows {
			mark = "slows"
		}
		if value == "" {
			value = "?"
		}
		if _, err := fmt.Fprintf(w, "  %-11s  %s=%s: %s\n", mark, p.Name, value, p.Effect); err != nil {
			return err
		}
	}
	return nil
}
