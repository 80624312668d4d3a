package doctor

import (
	"fmt"
	"slices"
	"strings"
)

// bitName names one feature bit of a register or MSR.
type bitName struct {
	bit  uint
	name string
}

// names returns the names of the set bits of v listed in table, in table order.
// The result is never nil, so JSON shows [] rather than null.
func names(v uint64, table []bitName) []string {
	out := []string{}
	for _, b := range table {
		if v&(1<<b.bit) != 0 {
			out = append(out, b.name)
		}
	}
	return out
}

// svmFeaturesEDX names CPUID Fn8000_000A EDX, the SVM feature identifiers
// (AMD APM vol. 3, appendix E.4.9 and vol. 2, chapter 15).
var svmFeaturesEDX = []bitName{
	{0, "NPT"},           // nested paging
	{1, "LbrVirt"},       // LBR virtualization
	{2, "SVML"},          // SVM lock
	{3, "NRIPS"},         // next RIP saved on #VMEXIT
	{4, "TscRateMsr"},    // MSR-based TSC rate control
	{5, "VmcbClean"},     // VMCB clean bits
	{6, "FlushByAsid"},   // TLB flush by ASID
	{7, "DecodeAssists"}, // instruction decode assists
	{10, "PauseFilter"},  // PAUSE intercept filter
	{12, "PauseFilterThreshold"},
	{13, "AVIC"},             // advanced virtual interrupt controller
	{15, "VMSAVEvirt"},       // virtualized VMLOAD/VMSAVE
	{16, "VGIF"},             // virtualized global interrupt flag
	{17, "GMET"},             // guest mode execute trap
	{18, "x2AVIC"},           // AVIC in x2APIC mode
	{19, "SSSCheck"},         // supervisor shadow stack checks
	{20, "SpecCtrl"},         // virtualized SPEC_CTRL
	{21, "ROGPT"},            // read-only guest page tables
	{23, "HostMceOverride"},  // host MCE override
	{24, "TlbiCtl"},          // INVLPGB/TLBSYNC enable in VMCB
	{25, "VNMI"},             // virtual NMI
	{26, "IbsVirt"},          // IBS virtualization
	{28, "VmcbAddrChk"},      // VMCB address check
	{29, "BusLockThreshold"}, // bus lock threshold
}

// CPUID Fn8000_000A fields.
const (
	svmEAXRevisionMask = 0xff   // EAX[7:0]: SVM revision
	svmEDXNPT          = 1 << 0 // EDX[0]: nested paging
	svmEDXNRIPS        = 1 << 3 // EDX[3]: next RIP saved on #VMEXIT
)

// DecodeSVM describes CPUID Fn8000_000A: revision, ASIDs and named features.
func DecodeSVM(eax, ebx, edx uint32) (rev uint32, asids uint32, features []string) {
	return eax & svmEAXRevisionMask, ebx, names(uint64(edx), svmFeaturesEDX)
}

// SVMCaps is the decoded view of CPUID Fn8000_000A as KVM offers it to
// guests: what a nested hypervisor running in the guest can use.
type SVMCaps struct {
	Revision uint32   `json:"revision"`
	ASIDs    uint32   `json:"asids"`
	Features []string `json:"features"`
	NPT      bool     `json:"npt"`
	NRIPS    bool     `json:"nrips"`
}

// DecodeSVMCaps decodes CPUID Fn8000_000A into SVMCaps.
func DecodeSVMCaps(eax, ebx, edx uint32) SVMCaps {
	rev, asids, features := DecodeSVM(eax, ebx, edx)
	return SVMCaps{
		Revision: rev,
		ASIDs:    asids,
		Features: features,
		NPT:      edx&svmEDXNPT != 0,
		NRIPS:    edx&svmEDXNRIPS != 0,
	}
}

// Summary is a one-line rendering of the SVM features, for the verdict.
func (c SVMCaps) Summary() string {
	if len(c.Features) == 0 {
		return "no SVM features"
	}
	return strings.Join(c.Features, ", ")
}

// VMX capability MSRs (Intel SDM vol. 3, appendix A).
const (
	MSRVMXBasic          = 0x480 // IA32_VMX_BASIC
	MSRVMXPinbasedCtls   = 0x481 // IA32_VMX_PINBASED_CTLS
	MSRVMXProcbasedCtls  = 0x482 // IA32_VMX_PROCBASED_CTLS
	MSRVMXExitCtls       = 0x483 // IA32_VMX_EXIT_CTLS
	MSRVMXEntryCtls      = 0x484 // IA32_VMX_ENTRY_CTLS
	MSRVMXMisc           = 0x485 // IA32_VMX_MISC
	MSRVMXCR0Fixed0      = 0x486 // IA32_VMX_CR0_FIXED0
	MSRVMXCR0Fixed1      = 0x487 // IA32_VMX_CR0_FIXED1
	MSRVMXCR4Fixed0      = 0x488 // IA32_VMX_CR4_FIXED0
	MSRVMXCR4Fixed1      = 0x489 // IA32_VMX_CR4_FIXED1
	MSRVMXVMCSEnum       = 0x48a // IA32_VMX_VMCS_ENUM
	MSRVMXProcbasedCtls2 = 0x48b // IA32_VMX_PROCBASED_CTLS2
	MSRVMXEPTVPIDCap     = 0x48c // IA32_VMX_EPT_VPID_CAP
	MSRVMXTruePinbased   = 0x48d // IA32_VMX_TRUE_PINBASED_CTLS
	MSRVMXTrueProcbased  = 0x48e // IA32_VMX_TRUE_PROCBASED_CTLS
	MSRVMXTrueExit       = 0x48f // IA32_VMX_TRUE_EXIT_CTLS
	MSRVMXTrueEntry      = 0x490 // IA32_VMX_TRUE_ENTRY_CTLS
	MSRVMXVMFunc         = 0x491 // IA32_VMX_VMFUNC
)

// IsVMXMSR reports whether idx is one of the VMX capability MSRs
// (IA32_VMX_BASIC through IA32_VMX_VMFUNC).
func IsVMXMSR(idx uint32) bool { return idx >= MSRVMXBasic && idx <= MSRVMXVMFunc }

// IA32_VMX_BASIC fields.
const (
	vmxBasicRevisionMask = 0x7fffffff // bits 30:0: VMCS revision identifier
	vmxBasicSizeShift    = 32         // bits 44:32: VMCS region size in bytes
	vmxBasicSizeMask     = 0x1fff     //
	vmxBasicTrueCtls     = 1 << 55    // bit 55: the IA32_VMX_TRUE_*_CTLS MSRs exist
)

// Allowed-1 bits (63:32) of the control MSRs that DecodeVMX tests by name.
const (
	vmxProcSecondary   = 1 << (32 + 31) // primary procbased: activate secondary controls
	vmxProc2EPT        = 1 << (32 + 1)  // secondary: enable EPT
	vmxProc2VPID       = 1 << (32 + 5)  // secondary: enable VPID
	vmxProc2Unrestrict = 1 << (32 + 7)  // secondary: unrestricted guest
	vmxProc2ShadowVMCS = 1 << (32 + 14) // secondary: VMCS shadowing
)

// Allowed-1 settings of the control MSRs live in bits 63:32.
var vmxPinbased = []bitName{
	{32 + 0, "ExternalInterruptExiting"},
	{32 + 3, "NMIExiting"},
	{32 + 5, "VirtualNMIs"},
	{32 + 6, "PreemptionTimer"},
	{32 + 7, "PostedInterrupts"},
}

var vmxProcbased = []bitName{
	{32 + 2, "InterruptWindowExiting"},
	{32 + 3, "TSCOffsetting"},
	{32 + 7, "HLTExiting"},
	{32 + 21, "TPRShadow"},
	{32 + 22, "NMIWindowExiting"},
	{32 + 25, "IOBitmaps"},
	{32 + 27, "MonitorTrapFlag"},
	{32 + 28, "MSRBitmaps"},
	{32 + 31, "SecondaryControls"},
}

var vmxProcbased2 = []bitName{
	{32 + 0, "VirtualizeAPICAccesses"},
	{32 + 1, "EPT"},
	{32 + 2, "DescriptorTableExiting"},
	{32 + 3, "RDTSCP"},
	{32 + 4, "VirtualizeX2APIC"},
	{32 + 5, "VPID"},
	{32 + 6, "WBINVDExiting"},
	{32 + 7, "UnrestrictedGuest"},
	{32 + 8, "APICRegisterVirtualization"},
	{32 + 9, "VirtualInterruptDelivery"},
	{32 + 10, "PauseLoopExiting"},
	{32 + 12, "INVPCID"},
	{32 + 13, "VMFunctions"},
	{32 + 14, "ShadowVMCS"},
	{32 + 17, "PML"},
	{32 + 18, "EPTViolationVE"},
	{32 + 20, "XSAVES"},
	{32 + 22, "ModeBasedEPTExecute"},
	{32 + 25, "TSCScaling"},
	{32 + 26, "UserWaitPause"},
}

var vmxExit = []bitName{
	{32 + 9, "HostAddressSpaceSize"},
	{32 + 15, "AckInterruptOnExit"},
	{32 + 18, "SavePAT"},
	{32 + 20, "SaveEFER"},
	{32 + 22, "SavePreemptionTimer"},
}

var vmxEntry = []bitName{
	{32 + 9, "IA32eModeGuest"},
	{32 + 14, "LoadPAT"},
	{32 + 15, "LoadEFER"},
}

var vmxEPTVPID = []bitName{
	{0, "ExecuteOnly"},
	{6, "PageWalk4"},
	{7, "PageWalk5"},
	{8, "UCMemoryType"},
	{14, "WBMemoryType"},
	{16, "2MPages"},
	{17, "1GPages"},
	{20, "INVEPT"},
	{21, "AccessedDirty"},
	{22, "AdvancedExitInfo"},
	{25, "INVEPTSingleContext"},
	{26, "INVEPTAllContext"},
	{32, "INVVPID"},
	{40, "INVVPIDIndividualAddress"},
	{41, "INVVPIDSingleContext"},
	{42, "INVVPIDAllContext"},
	{43, "INVVPIDSingleContextRetainGlobals"},
}

// VMXCaps is the decoded view of the VMX capability MSRs.
type VMXCaps struct {
	Revision   uint32   `json:"vmcs_revision"`
	VMCSSize   uint32   `json:"vmcs_size"`
	TrueCtls   bool     `json:"true_controls"`
	Pinbased   []string `json:"pinbased"`
	Procbased  []string `json:"procbased"`
	Procbased2 []string `json:"procbased2"`
	Exit       []string `json:"exit"`
	Entry      []string `json:"entry"`
	EPTVPID    []string `json:"ept_vpid"`
	EPT        bool     `json:"ept"`
	VPID       bool     `json:"vpid"`
	Unrestrict bool     `json:"unrestricted_guest"`
	ShadowVMCS bool     `json:"shadow_vmcs"`
	// Misc is IA32_VMX_MISC decoded; nil where KVM did not report it.
	Misc        *VMXMisc `json:"misc,omitempty"`
	MissingMSRs []uint32 `json:"missing_msrs,omitempty"`
}

// IA32_VMX_MISC fields (Intel SDM vol. 3D, A.6, "Miscellaneous Data").
const (
	vmxMiscTimerRate      = 0x1f    // bits 4:0: the preemption timer counts down once per 2^rate TSC cycles
	vmxMiscCR3TargetShift = 16      // bits 24:16: how many CR3-target values
	vmxMiscCR3TargetMask  = 0x1ff   //
	vmxMiscMSRListShift   = 25      // bits 27:25: N, the MSR lists hold at most 512*(N+1) entries
	vmxMiscMSRListMask    = 7       //
	vmxMiscVMWriteAny     = 1 << 29 // bit 29: VMWRITE may write the VM-exit information fields
)

// vmxActivityStates names the activity states bits 8:6 of IA32_VMX_MISC
// allow a guest to enter with (active is always allowed).
var vmxActivityStates = []bitName{{6, "HLT"}, {7, "shutdown"}, {8, "wait-for-SIPI"}}

// VMXMisc is the decoded IA32_VMX_MISC.
type VMXMisc struct {
	// PreemptionTimerRate is X: the VMX-preemption timer counts down by
	// one each time bit X of the TSC changes.
	PreemptionTimerRate int      `json:"preemption_timer_rate"`
	ActivityStates      []string `json:"activity_states"`
	CR3Targets          int      `json:"cr3_targets"`
	MaxMSRList          int      `json:"max_msr_list"` // entries in each VM-entry/exit MSR list
	VMWriteAnyField     bool     `json:"vmwrite_any_field"`
}

// DecodeVMXMisc decodes IA32_VMX_MISC.
func DecodeVMXMisc(v uint64) VMXMisc {
	return VMXMisc{
		PreemptionTimerRate: int(v & vmxMiscTimerRate),
		ActivityStates:      names(v, vmxActivityStates),
		CR3Targets:          int(v >> vmxMiscCR3TargetShift & vmxMiscCR3TargetMask),
		MaxMSRList:          512 * (int(v>>vmxMiscMSRListShift&vmxMiscMSRListMask) + 1),
		VMWriteAnyField:     v&vmxMiscVMWriteAny != 0,
	}
}

// PreemptionTimer describes the VMX-preemption timer: whether G1 may use
// it (pin-based control 6) and, from IA32_VMX_MISC, how fast it counts.
func (c VMXCaps) PreemptionTimer() string {
	if !slices.Contains(c.Pinbased, "PreemptionTimer") {
		return "no preemption timer"
	}
	if c.Misc == nil {
		return "preemption timer, rate unknown (no IA32_VMX_MISC)"
	}
	return fmt.Sprintf("preemption timer counting once per %d TSC cycles (IA32_VMX_MISC rate %d)",
		1<<c.Misc.PreemptionTimerRate, c.Misc.PreemptionTimerRate)
}

// DecodeVMX decodes the VMX capability MSRs in msrs (index → value). MSRs
// absent from the map are listed in MissingMSRs; a missing IA32_VMX_BASIC
// yields ok == false.
func DecodeVMX(msrs map[uint32]uint64) (c VMXCaps, ok bool) {
	basic, ok := msrs[MSRVMXBasic]
	if !ok {
		return c, false
	}
	c.Revision = uint32(basic & vmxBasicRevisionMask)
	c.VMCSSize = uint32(basic>>vmxBasicSizeShift) & vmxBasicSizeMask
	c.TrueCtls = basic&vmxBasicTrueCtls != 0
	get := func(idx uint32) uint64 {
		v, ok := msrs[idx]
		if !ok {
			c.MissingMSRs = append(c.MissingMSRs, idx)
		}
		return v
	}
	pin, proc, exit, entry := uint32(MSRVMXPinbasedCtls), uint32(MSRVMXProcbasedCtls), uint32(MSRVMXExitCtls), uint32(MSRVMXEntryCtls)
	if c.TrueCtls {
		pin, proc, exit, entry = MSRVMXTruePinbased, MSRVMXTrueProcbased, MSRVMXTrueExit, MSRVMXTrueEntry
	}
	c.Procbased2, c.EPTVPID = []string{}, []string{}
	c.Pinbased = names(get(pin), vmxPinbased)
	procv := get(proc)
	c.Procbased = names(procv, vmxProcbased)
	if procv&vmxProcSecondary != 0 {
		p2 := get(MSRVMXProcbasedCtls2)
		c.Procbased2 = names(p2, vmxProcbased2)
		c.EPT = p2&vmxProc2EPT != 0
		c.VPID = p2&vmxProc2VPID != 0
		c.Unrestrict = p2&vmxProc2Unrestrict != 0
		c.ShadowVMCS = p2&vmxProc2ShadowVMCS != 0
		if c.EPT || c.VPID {
			c.EPTVPID = names(get(MSRVMXEPTVPIDCap), vmxEPTVPID)
		}
	}
	c.Exit = names(get(exit), vmxExit)
	c.Entry = names(get(entry), vmxEntry)
	if misc, ok := msrs[MSRVMXMisc]; ok {
		m := DecodeVMXMisc(misc)
		c.Misc = &m
	}
	return c, true
}

// Summary is a one-line rendering of the most telling VMX capabilities.
func (c VMXCaps) Summary() string {
	var parts []string
	flag := func(ok bool, name string) {
		if ok {
			parts = append(parts, name)
		} else {
			parts = append(parts, "no "+name)
		}
	}
	flag(c.EPT, "EPT")
	flag(c.VPID, "VPID")
	flag(c.Unrestrict, "unrestricted guest")
	flag(c.ShadowVMCS, "shadow VMCS")
	return fmt.Sprintf("VMCS rev %#x, %s", c.Revision, strings.Join(parts, ", "))
}
