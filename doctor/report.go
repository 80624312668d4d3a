package doctor

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/gonest/gonest/hostinfo"
)

// Status is a check's outcome.
type Status string

// Statuses.
const (
	StatusOK          Status = "ok"          // the check passed
	StatusWarn        Status = "warn"        // nesting can work, but worse than it could
	StatusFail        Status = "fail"        // this rules nesting out (or is broken)
	StatusUnavailable Status = "unavailable" // the host lacks the interface, or it does not apply
)

// Check names, stable for tools reading -json, in report order.
const (
	CheckDevice         = "device"          // /dev/kvm exists and opens read-write
	CheckAPIVersion     = "api_version"     // KVM_GET_API_VERSION is 12
	CheckBackend        = "backend"         // the vendor module behind /dev/kvm
	CheckNestedParam    = "nested_param"    // /sys/module/kvm_{amd,intel}/parameters/nested
	CheckSupportedCPUID = "supported_cpuid" // SVM or VMX in KVM_GET_SUPPORTED_CPUID
	CheckTDP            = "ept_npt"         // two-dimensional paging for the guest's guests
	CheckNestedState    = "nested_state"    // KVM_CAP_NESTED_STATE
	CheckVMXMSRs        = "vmx_msrs"        // the VMX capability MSRs KVM offers
	CheckSVMFeatures    = "svm_features"    // CPUID Fn8000_000A as KVM offers it
	CheckHostVirt       = "host_virt"       // this machine's own CPU's VMX or SVM features
	CheckTiming         = "timing"          // ns per loop iteration at CPL 0 and CPL 3
	CheckHostIsGuest    = "host_is_guest"   // whether this host is itself a VM
)

// Check is one line of evidence.
type Check struct {
	Name     string `json:"name"`
	Status   Status `json:"status"`
	Evidence string `json:"evidence"`
}

// Report is the doctor's answer. Its JSON form is stable: fields are only
// ever added.
type Report struct {
	// Verdict is one line: whether nested virtualization is possible here,
	// why, and what to do.
	Verdict string `json:"verdict"`
	// CanNest is true when a gonest guest here can run its own KVM guests.
	CanNest bool `json:"can_nest"`
	// Backend is the KVM module behind /dev/kvm.
	Backend hostinfo.Backend `json:"backend"`
	// Checks are the evidence, in a fixed order.
	Checks []Check `json:"checks"`
	// NestedStateSize is KVM_CHECK_EXTENSION(KVM_CAP_NESTED_STATE): the
	// largest nested state, 0 without nesting or when unknown.
	NestedStateSize int `json:"nested_state_size"`
	// VMX is the decoded VMX capability MSRs; nil where KVM offers none.
	VMX *VMXCaps `json:"vmx"`
	// HostVirtFlags are this machine's own CPU's VMX features ("vmx
	// flags" in /proc/cpuinfo) or SVM features, what KVM here builds on,
	// against VMX and SVM, what KVM offers its guests.
	HostVirtFlags []string `json:"host_virt_flags"`
	// SVM is the decoded CPUID Fn8000_000A; nil where KVM offers no SVM.
	SVM *SVMCaps `json:"svm"`
	// Timing is the timing probe's result; nil when it could not run.
	Timing *Timing `json:"timing"`
	// SpeedParams are the vendor module's parameters that decide what a
	// nested exit costs (params.go); empty for kvm_pvm or no KVM.
	SpeedParams []ModuleParam `json:"speed_params"`
}

// ExitCode is gonest doctor's exit status: 0 when nesting is available,
// 1 when it is not.
func (r *Report) ExitCode() int {
	if r.CanNest {
		return 0
	}
	return 1
}

// Check returns the check called name, or false.
func (r *Report) Check(name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

func (r *Report) add(name string, s Status, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, Status: s, Evidence: fmt.Sprintf(format, args...)})
}

// WriteText prints the verdict line, one aligned line per check, then
// the module parameters that decide nested speed.
func (r *Report) WriteText(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "verdict: %s\n", r.Verdict); err != nil {
		return err
	}
	for _, c := range r.Checks {
		if _, err := fmt.Fprintf(w, "  %-11s  %-15s  %s\n", c.Status, c.Name, c.Evidence); err != nil {
			return err
		}
	}
	return r.writeSpeedParams(w)
}

// WriteJSON prints the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Metrics are the report's findings as numbers, for a program that reads
// them without parsing text (the doctor scenario sends them to the level
// above): can_nest and each VMX or SVM feature as 0 or 1, sizes and
// revisions as they are. Only what the host has is present: vmx.* where
// KVM offers VMX, svm.* where it offers SVM.
func (r *Report) Metrics() map[string]float64 {
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	m := map[string]float64{"can_nest": b(r.CanNest), "nested_state_size": float64(r.NestedStateSize)}
	if v := r.VMX; v != nil {
		m["vmx.vmcs_revision"] = float64(v.Revision)
		m["vmx.true_controls"] = b(v.TrueCtls)
		m["vmx.ept"] = b(v.EPT)
		m["vmx.vpid"] = b(v.VPID)
		m["vmx.unrestricted_guest"] = b(v.Unrestrict)
		m["vmx.shadow_vmcs"] = b(v.ShadowVMCS)
		m["vmx.preemption_timer"] = b(slices.Contains(v.Pinbased, "PreemptionTimer"))
		if v.Misc != nil {
			m["vmx.preemption_timer_rate"] = float64(v.Misc.PreemptionTimerRate)
		}
	}
	if s := r.SVM; s != nil {
		m["svm.revision"] = float64(s.Revision)
		m["svm.asids"] = float64(s.ASIDs)
		m["svm.npt"] = b(s.NPT)
		m["svm.nrips"] = b(s.NRIPS)
	}
	return m
}
