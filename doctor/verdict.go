package doctor

import (
	"fmt"
	"io/fs"
	"strings"

	"github.com/gonest/gonest/hostinfo"
)

// labHint is where to go when this host cannot nest.
const labHint = "run the nested demo in the lab: make run (or make lab)"

// verdictFeatures is how many SVM feature names the verdict line shows.
const verdictFeatures = 6

// verdict decides whether nesting is possible and says so in one line.
// Nesting needs, in this order: a working /dev/kvm; a module that can nest
// (not kvm_pvm) with its nested parameter on; and, decisively, SVM or VMX
// in KVM_GET_SUPPORTED_CPUID, which is what a guest's own KVM will find.
func (e *examination) verdict() (bool, string) {
	const no = "nested virtualization is NOT possible here: "
	switch {
	case e.openErr != nil:
		return false, no + openProblem(e.openErr)
	case e.backend == hostinfo.BackendPVM:
		return false, no + "/dev/kvm is kvm_pvm (software), which offers no SVM or VMX to guests; " + labHint
	case e.nestedDisabled():
		return false, fmt.Sprintf("%s%s is loaded with nested=%s, so KVM offers no %s to guests; reload it with nested=1 (modprobe -r %s && modprobe %s nested=1), or %s",
			no, e.backend, e.nestedParam, e.virtName(), e.backend, e.backend, labHint)
	case e.cpuidErr != nil:
		return false, fmt.Sprintf("%scannot read what KVM offers guests (%v); %s", no, e.cpuidErr, labHint)
	case !e.virt():
		why := ""
		if !e.cpuFlagSVM && !e.cpuFlagVMX {
			why = ", and the CPU itself shows neither (enable virtualization in the firmware, or ask the cloud provider for nested virtualization)"
		}
		return false, fmt.Sprintf("%shost KVM (%s) offers no SVM or VMX to guests in KVM_GET_SUPPORTED_CPUID%s; %s", no, e.backend, why, labHint)
	}

	who := "KVM (" + string(e.backend) + ")"
	switch {
	case e.backend == hostinfo.BackendAMD || e.backend == hostinfo.BackendIntel:
		who = string(e.backend)
		if e.nestedRead {
			who += " with nested=" + e.nestedParam
		}
	}
	what := "VMX"
	var features []string
	if e.hasSVM {
		what = "SVM"
		if e.r.SVM != nil {
			features = e.r.SVM.Features
			if len(features) > verdictFeatures {
				features = append(features[:verdictFeatures:verdictFeatures], "...")
			}
		}
	} else if e.r.VMX != nil {
		features = vmxHighlights(*e.r.VMX)
	}
	line := "nested virtualization available: " + who + " offers " + what
	if len(features) > 0 {
		line += " (" + strings.Join(features, ", ") + ")"
	}
	if c, ok := e.r.Check(CheckTDP); ok && c.Status == StatusWarn {
		line += "; without NPT/EPT for guests, nested guests run on shadow page tables (slow)"
	}
	return true, line
}

// vmxHighlights names the VMX capabilities that matter most for nesting.
func vmxHighlights(c VMXCaps) []string {
	var out []string
	for _, f := range []struct {
		ok   bool
		name string
	}{{c.EPT, "EPT"}, {c.VPID, "VPID"}, {c.Unrestrict, "unrestricted guest"}, {c.ShadowVMCS, "shadow VMCS"}} {
		if f.ok {
			out = append(out, f.name)
		} else {
			out = append(out, "no "+f.name)
		}
	}
	return out
}

// StartupWarning is the one-line warning gonest run should print before
// booting, or "" when none is needed. It reads only module parameters
// under fsys (hostinfo.Root() for the real host): no ioctl, no guest, a
// few microseconds. It catches the two hosts where a Linux guest will
// disappoint: kvm_pvm (ring 0 emulated, no nesting) and kvm_amd/kvm_intel
// loaded with nested=0 (the guest sees no SVM/VMX). gonest doctor explains
// either in full.
func StartupWarning(fsys fs.FS) string {
	b := hostinfo.DetectBackend(fsys)
	switch b {
	case hostinfo.BackendPVM:
		return "this host's KVM (kvm_pvm) emulates ring-0 guest code about 1000x slower and cannot nest; see gonest doctor, or use the lab (make lab)"
	case hostinfo.BackendAMD, hostinfo.BackendIntel:
		v, ok := hostinfo.Nested(fsys, b)
		if ok && !hostinfo.Enabled(v) {
			ext := "SVM"
			if b == hostinfo.BackendIntel {
				ext = "VMX"
			}
			return fmt.Sprintf("%s is loaded with nested=%s: the guest gets no %s and cannot run guests of its own; reload %s with nested=1, see gonest doctor", b, v, ext, b)
		}
	}
	return ""
}
