package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/gonest/gonest/hostinfo"
	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/vcpu"
)

// examination is the state shared by the checks of one Examine call.
type examination struct {
	h Host
	r *Report

	k       KVM   // nil when /dev/kvm did not open
	openErr error // why it did not
	backend hostinfo.Backend

	nestedParam   string // the module's nested parameter, when read
	nestedRead    bool
	cpuid         []kvm.CPUIDEntry2
	cpuidErr      error
	vendor        vcpu.Vendor
	hasSVM        bool
	hasVMX        bool
	cpuFlagSVM    bool // /proc/cpuinfo: the host CPU itself
	cpuFlagVMX    bool
	tdpParam      string // "npt"/"ept" and its value, when read
	tdpParamValue string
	tdpParamRead  bool
}

// virt reports whether KVM offers SVM or VMX to its guests.
func (e *examination) virt() bool { return e.hasSVM || e.hasVMX }

// virtName is "SVM", "VMX" or "SVM or VMX" (for messages about neither).
func (e *examination) virtName() string {
	switch {
	case e.hasSVM || e.vendor == vcpu.VendorAMD:
		return "SVM"
	case e.hasVMX || e.vendor == vcpu.VendorIntel:
		return "VMX"
	}
	return "SVM or VMX"
}

// nestedDisabled reports whether the module's nested parameter says off.
func (e *examination) nestedDisabled() bool {
	return e.nestedRead && !hostinfo.Enabled(e.nestedParam)
}

// Examine runs every check against h and returns the report. It never
// panics on a host that lacks an interface: each missing piece becomes an
// "unavailable" check. It opens /dev/kvm once and closes it before
// returning.
func Examine(h Host) *Report {
	if h.FS == nil {
		h.FS = emptyFS{}
	}
	e := &examination{h: h, r: &Report{}}
	e.backend = hostinfo.DetectBackend(h.FS)
	e.r.Backend = e.backend
	e.cpuFlagSVM = hostinfo.CPUFlag(h.FS, "svm")
	e.cpuFlagVMX = hostinfo.CPUFlag(h.FS, "vmx")
	e.nestedParam, e.nestedRead = hostinfo.Nested(h.FS, e.backend)
	e.tdpParam, e.tdpParamValue, e.tdpParamRead = hostinfo.TwoDimensionalPaging(h.FS, e.backend)

	if h.OpenKVM == nil {
		e.openErr = errors.New("no way to open /dev/kvm was given")
	} else {
		e.k, e.openErr = h.OpenKVM()
		if e.openErr == nil && e.k == nil {
			e.openErr = errors.New("/dev/kvm opened as nothing")
		}
	}
	if e.k != nil {
		e.cpuid, e.cpuidErr = e.k.GetSupportedCPUID()
		e.vendor = vcpu.HostVendor(e.cpuid)
		e.hasSVM, e.hasVMX = vcpu.HasSVM(e.cpuid), vcpu.HasVMX(e.cpuid)
	}

	if err := e.run(); err != nil {
		// The checks are done; a failed close is worth a word, not a verdict.
		c := &e.r.Checks[0]
		c.Evidence += fmt.Sprintf("; closing it: %v", err)
		if c.Status == StatusOK {
			c.Status = StatusWarn
		}
	}
	e.r.CanNest, e.r.Verdict = e.verdict()
	return e.r
}

// run adds the checks in report order and closes /dev/kvm.
func (e *examination) run() error {
	e.checkDevice()
	e.checkAPIVersion()
	e.checkBackend()
	e.checkNestedParam()
	e.checkSupportedCPUID()
	// The VMX MSRs and SVM leaf are decoded before the EPT/NPT check, which
	// uses them, but listed after it.
	vmx := e.checkVMXMSRs()
	svm := e.checkSVMFeatures()
	e.checkTDP()
	e.checkNestedState()
	e.r.Checks = append(e.r.Checks, vmx, svm)
	e.checkHostVirt()
	e.checkTiming()
	e.checkHostIsGuest()
	e.checkSpeedParams()
	if e.k == nil {
		return nil
	}
	return e.k.Close()
}

func (e *examination) checkDevice() {
	node := deviceNode(e.h.FS)
	if e.openErr != nil {
		msg := openProblem(e.openErr)
		if node != "" {
			msg += " (" + node + ")"
		}
		e.r.add(CheckDevice, StatusFail, "%s", msg)
		return
	}
	if node == "" {
		node = "/dev/kvm"
	}
	e.r.add(CheckDevice, StatusOK, "%s, opened read-write", node)
}

const needsKVM = "needs /dev/kvm"

func (e *examination) checkAPIVersion() {
	if e.k == nil {
		e.r.add(CheckAPIVersion, StatusUnavailable, needsKVM)
		return
	}
	v, err := e.k.GetAPIVersion()
	switch {
	case err != nil:
		e.r.add(CheckAPIVersion, StatusFail, "%v", err)
	case v != kvm.APIVersion:
		e.r.add(CheckAPIVersion, StatusFail, "KVM API version %d, gonest speaks %d: use a Linux kernel with standard KVM", v, kvm.APIVersion)
	default:
		e.r.add(CheckAPIVersion, StatusOK, "%d (KVM_GET_API_VERSION)", v)
	}
}

func (e *examination) checkBackend() {
	switch e.backend {
	case hostinfo.BackendAMD:
		e.r.add(CheckBackend, StatusOK, "kvm_amd: hardware virtualization with AMD SVM")
	case hostinfo.BackendIntel:
		e.r.add(CheckBackend, StatusOK, "kvm_intel: hardware virtualization with Intel VMX")
	case hostinfo.BackendPVM:
		e.r.add(CheckBackend, StatusFail, "kvm_pvm: PVM (Pagetable Virtual Machine), KVM without hardware virtualization for cloud guests whose provider disables nesting; it never offers SVM or VMX to its own guests")
	case hostinfo.BackendOther:
		e.r.add(CheckBackend, StatusWarn, "kvm is loaded but none of kvm_amd, kvm_intel, kvm_pvm: the vendor module is unknown, so the CPUID check below decides")
	default:
		if e.k != nil {
			e.r.add(CheckBackend, StatusWarn, "no kvm module in /sys/module, yet /dev/kvm works: the CPUID check below decides")
			return
		}
		e.r.add(CheckBackend, StatusFail, "no kvm module in /sys/module: load kvm_amd or kvm_intel (modprobe kvm_amd nested=1)")
	}
}

func (e *examination) checkNestedParam() {
	switch e.backend {
	case hostinfo.BackendAMD, hostinfo.BackendIntel:
	default:
		e.r.add(CheckNestedParam, StatusUnavailable, "%s has no nested parameter (only kvm_amd and kvm_intel do)", e.backend)
		return
	}
	path := "/sys/module/" + string(e.backend) + "/parameters/nested"
	switch {
	case !e.nestedRead:
		e.r.add(CheckNestedParam, StatusUnavailable, "%s is not readable", path)
	case e.nestedDisabled():
		e.r.add(CheckNestedParam, StatusFail, "%s=%s: KVM hides %s from its guests; reload the module with nested=1 (modprobe -r %s && modprobe %s nested=1)",
			path, e.nestedParam, e.virtName(), e.backend, e.backend)
	default:
		e.r.add(CheckNestedParam, StatusOK, "%s=%s: KVM may offer %s to its guests", path, e.nestedParam, e.virtName())
	}
}

// cpuFlags describes the host CPU's own svm/vmx flags.
func (e *examination) cpuFlags() string {
	switch {
	case e.cpuFlagSVM:
		return "the host CPU has svm"
	case e.cpuFlagVMX:
		return "the host CPU has vmx"
	}
	return "the host CPU shows neither svm nor vmx in /proc/cpuinfo"
}

func (e *examination) checkSupportedCPUID() {
	switch {
	case e.k == nil:
		e.r.add(CheckSupportedCPUID, StatusUnavailable, "%s; %s", needsKVM, e.cpuFlags())
	case e.cpuidErr != nil:
		e.r.add(CheckSupportedCPUID, StatusUnavailable, "%v", e.cpuidErr)
	case e.hasSVM:
		e.r.add(CheckSupportedCPUID, StatusOK, "SVM offered to guests (Fn8000_0001 ECX bit 2 set in %d entries)", len(e.cpuid))
	case e.hasVMX:
		e.r.add(CheckSupportedCPUID, StatusOK, "VMX offered to guests (leaf 1 ECX bit 5 set in %d entries)", len(e.cpuid))
	default:
		e.r.add(CheckSupportedCPUID, StatusFail, "neither SVM (Fn8000_0001 ECX bit 2) nor VMX (leaf 1 ECX bit 5) in %d entries, so a guest cannot run KVM itself; %s",
			len(e.cpuid), e.cpuFlags())
	}
}

func (e *examination) checkTDP() {
	param := "no EPT/NPT module parameter for " + string(e.backend)
	if e.tdpParamRead {
		param = fmt.Sprintf("%s=%s (host KVM's own paging)", e.tdpParam, e.tdpParamValue)
	}
	if !e.virt() {
		e.r.add(CheckTDP, StatusUnavailable, "%s; without SVM or VMX for guests there is no NPT or EPT for them either", param)
		return
	}
	var (
		guest   string
		offered bool
	)
	switch {
	case e.hasSVM:
		leaf := vcpu.Lookup(e.cpuid, leafSVMFeatures, 0)
		offered = leaf != nil && leaf.EDX&svmEDXNPT != 0
		guest = fmt.Sprintf("Fn8000_000A EDX NP %s", setOrClear(offered))
	case e.r.VMX != nil:
		offered = e.r.VMX.EPT
		guest = fmt.Sprintf("VMX secondary controls EPT %s", setOrClear(offered))
	default:
		e.r.add(CheckTDP, StatusUnavailable, "%s; VMX capability MSRs unreadable, so EPT for guests is unknown", param)
		return
	}
	if e.tdpParamRead && !hostinfo.Enabled(e.tdpParamValue) {
		offered = false
	}
	if offered {
		e.r.add(CheckTDP, StatusOK, "%s; %s: the guest can give its own guests hardware two-dimensional paging", param, guest)
		return
	}
	e.r.add(CheckTDP, StatusWarn, "%s; %s: the guest must shadow its guests' page tables, which works but is slow", param, guest)
}

func setOrClear(b bool) string {
	if b {
		return "set"
	}
	return "clear"
}

func (e *examination) checkNestedState() {
	if e.k == nil {
		e.r.add(CheckNestedState, StatusUnavailable, needsKVM)
		return
	}
	n, err := e.k.CheckExtension(kvm.CapNestedState)
	switch {
	case err != nil:
		e.r.add(CheckNestedState, StatusUnavailable, "%v", err)
	case n > 0 && !e.virt():
		// The capability comes with the vendor module, whatever its nested
		// parameter says.
		e.r.NestedStateSize = n
		e.r.add(CheckNestedState, StatusOK, "KVM_CAP_NESTED_STATE=%d: the module supports nested state, unused while KVM offers no SVM or VMX to guests", n)
	case n > 0:
		e.r.NestedStateSize = n
		e.r.add(CheckNestedState, StatusOK, "KVM_CAP_NESTED_STATE=%d: KVM can save and restore a guest that is running its own guest (up to %d bytes of state)", n, n)
	case e.virt():
		e.r.add(CheckNestedState, StatusWarn, "KVM_CAP_NESTED_STATE=0: nesting may run, but KVM cannot save or show a nested guest's state (gonest run -nested-state)")
	default:
		e.r.add(CheckNestedState, StatusFail, "KVM_CAP_NESTED_STATE=0: this KVM has no nested virtualization at all")
	}
}

// checkVMXMSRs reads the VMX capability MSRs through the feature-MSR
// interface and decodes them into e.r.VMX.
func (e *examination) checkVMXMSRs() Check {
	c := Check{Name: CheckVMXMSRs, Status: StatusUnavailable}
	set := func(s Status, format string, args ...any) Check {
		c.Status, c.Evidence = s, fmt.Sprintf(format, args...)
		return c
	}
	switch {
	case e.k == nil:
		return set(StatusUnavailable, needsKVM)
	case e.vendor == vcpu.VendorAMD:
		return set(StatusUnavailable, "AMD CPU: VMX capability MSRs do not apply (see svm_features)")
	}
	if n, err := e.k.CheckExtension(kvm.CapGetMSRFeatures); err != nil {
		return set(StatusUnavailable, "%v", err)
	} else if n == 0 {
		return set(StatusUnavailable, "no KVM_CAP_GET_MSR_FEATURES: this kernel cannot report feature MSRs")
	}
	list, err := e.k.GetMSRFeatureIndexList()
	if err != nil {
		return set(StatusUnavailable, "%v", err)
	}
	var entries []kvm.MSREntry
	for _, idx := range list {
		if IsVMXMSR(idx) {
			entries = append(entries, kvm.MSREntry{Index: idx})
		}
	}
	if len(entries) == 0 {
		s := StatusUnavailable
		if e.vendor == vcpu.VendorIntel {
			s = StatusFail
		}
		return set(s, "no VMX capability MSR (0x480-0x491) among the %d feature MSRs [%s]: KVM offers no VMX to guests", len(list), hexList(list))
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Index < entries[j].Index })
	n, err := e.k.GetMSRs(entries)
	if err != nil {
		return set(StatusFail, "%v", err)
	}
	msrs := make(map[uint32]uint64, n)
	for _, m := range entries[:min(max(n, 0), len(entries))] {
		msrs[m.Index] = m.Data
	}
	caps, ok := DecodeVMX(msrs)
	if !ok {
		return set(StatusFail, "KVM_GET_MSRS read %d of %d VMX MSRs, without IA32_VMX_BASIC", n, len(entries))
	}
	e.r.VMX = &caps
	s := StatusOK
	missing := ""
	if len(caps.MissingMSRs) > 0 {
		s = StatusWarn
		missing = fmt.Sprintf("; missing %s", hexList(caps.MissingMSRs))
	}
	return set(s, "%s; %s; secondary controls: %s%s", caps.Summary(), caps.PreemptionTimer(), strings.Join(caps.Procbased2, ", "), missing)
}

// leafSVMFeatures is CPUID Fn8000_000A, the SVM revision and features.
const leafSVMFeatures = 0x8000000a

// checkSVMFeatures decodes CPUID Fn8000_000A of the supported CPUID into
// e.r.SVM.
func (e *examination) checkSVMFeatures() Check {
	c := Check{Name: CheckSVMFeatures}
	set := func(s Status, format string, args ...any) Check {
		c.Status, c.Evidence = s, fmt.Sprintf(format, args...)
		return c
	}
	switch {
	case e.k == nil:
		return set(StatusUnavailable, needsKVM)
	case e.vendor == vcpu.VendorIntel:
		return set(StatusUnavailable, "Intel CPU: SVM features do not apply (see vmx_msrs)")
	case e.cpuidErr != nil:
		return set(StatusUnavailable, "%v", e.cpuidErr)
	}
	leaf := vcpu.Lookup(e.cpuid, leafSVMFeatures, 0)
	if leaf == nil {
		if !e.hasSVM {
			return set(StatusFail, "no Fn8000_000A in the supported CPUID: KVM offers no SVM to guests")
		}
		return set(StatusWarn, "SVM offered, but no Fn8000_000A in the supported CPUID: features unknown")
	}
	if !e.hasSVM {
		return set(StatusFail, "Fn8000_000A EAX=%#x EBX=%#x EDX=%#x, and no SVM bit: KVM offers no SVM to guests", leaf.EAX, leaf.EBX, leaf.EDX)
	}
	caps := DecodeSVMCaps(leaf.EAX, leaf.EBX, leaf.EDX)
	e.r.SVM = &caps
	return set(StatusOK, "revision %d, %d ASIDs: %s", caps.Revision, caps.ASIDs, caps.Summary())
}

// checkHostVirt lists this machine's own CPU's VMX or SVM features, as
// Linux read them: what KVM here builds on, next to what it offers its
// guests (vmx_msrs, svm_features). In a nested lab the two differ where
// KVM does not emulate a feature for its guests.
func (e *examination) checkHostVirt() {
	kind, flags := hostinfo.VirtFlags(e.h.FS)
	switch {
	case kind == "":
		e.r.add(CheckHostVirt, StatusUnavailable, "%s", e.cpuFlags())
	case len(flags) == 0 && kind == "VMX":
		e.r.add(CheckHostVirt, StatusUnavailable, "the host CPU has vmx; this kernel lists no VMX features (/proc/cpuinfo \"vmx flags\" needs Linux 5.8)")
	case len(flags) == 0:
		e.r.add(CheckHostVirt, StatusOK, "the host CPU has svm, with no SVM feature flags in /proc/cpuinfo")
	default:
		e.r.HostVirtFlags = flags
		src := "\"vmx flags\", from its VMX capability MSRs"
		if kind == "SVM" {
			src = "flags, from CPUID Fn8000_000A"
		}
		e.r.add(CheckHostVirt, StatusOK, "the host CPU's own %s (/proc/cpuinfo %s): %s", kind, src, strings.Join(flags, " "))
	}
}

func (e *examination) checkTiming() {
	if e.k == nil {
		e.r.add(CheckTiming, StatusUnavailable, needsKVM)
		return
	}
	t, err := probe(e.k, e.h.ProbeBudget)
	if err != nil {
		e.r.add(CheckTiming, StatusUnavailable, "%v", err)
		return
	}
	e.r.Timing = t
	s, ev := t.rate()
	e.r.add(CheckTiming, s, "%s", ev)
}

func (e *examination) checkHostIsGuest() {
	guest, ev := hostinfo.Guest(e.h.FS)
	if !guest && strings.HasPrefix(ev, "unavailable") {
		e.r.add(CheckHostIsGuest, StatusUnavailable, "cannot tell: no /proc/cpuinfo, /sys/hypervisor/type or DMI vendor")
		return
	}
	if guest {
		e.r.add(CheckHostIsGuest, StatusWarn, "yes (%s): gonest's guest is a third level here, and nesting needs the outer hypervisor to pass %s through", ev, e.virtName())
		return
	}
	e.r.add(CheckHostIsGuest, StatusOK, "no (%s)", ev)
}

func hexList(v []uint32) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%#x", x)
	}
	return strings.Join(s, ", ")
}

// emptyFS is a host with no files, for a Host without FS.
type emptyFS struct{}

func (emptyFS) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}
