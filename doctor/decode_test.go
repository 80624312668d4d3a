package doctor

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeSVMCaps(t *testing.T) {
	tests := []struct {
		name          string
		eax, ebx, edx uint32
		want          SVMCaps
	}{
		{
			name: "KVM's nested SVM on a Zen host",
			eax:  1, ebx: 8, edx: svmNPT | svmLbrVirt | svmNRIPS | svmVmcbClean | svmDecodeAssists | svmPauseFilter | svmVGIF,
			want: SVMCaps{Revision: 1, ASIDs: 8, NPT: true, NRIPS: true,
				Features: []string{"NPT", "LbrVirt", "NRIPS", "VmcbClean", "DecodeAssists", "PauseFilter", "VGIF"}},
		},
		{
			name: "no nested paging, no NRIPS",
			eax:  1, ebx: 16, edx: svmVmcbClean,
			want: SVMCaps{Revision: 1, ASIDs: 16, Features: []string{"VmcbClean"}},
		},
		{
			name: "empty leaf (KVM offers no SVM)",
			want: SVMCaps{Features: []string{}},
		},
		{
			name: "revision is EAX[7:0]; unnamed bits are ignored",
			eax:  0xabcd01, edx: 1<<8 | 1<<31,
			want: SVMCaps{Revision: 1, Features: []string{}},
		},
		{
			name: "high feature bits",
			edx:  1<<13 | 1<<25 | 1<<28 | 1<<29,
			want: SVMCaps{Features: []string{"AVIC", "VNMI", "VmcbAddrChk", "BusLockThreshold"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, DecodeSVMCaps(tt.eax, tt.ebx, tt.edx))
		})
	}
}

func TestSVMCapsSummary(t *testing.T) {
	assert.Equal(t, "NPT, NRIPS", SVMCaps{Features: []string{"NPT", "NRIPS"}}.Summary())
	assert.Equal(t, "no SVM features", SVMCaps{Features: []string{}}.Summary())
}

func TestDecodeVMX(t *testing.T) {
	full := intelVMXMSRs(true)

	// Without true controls, the plain control MSRs are read instead.
	plain := intelVMXMSRs(true)
	plain[MSRVMXBasic] &^= vmxBasicTrueCtls
	plain[MSRVMXPinbasedCtls] = allowed1(0, 7)

	// No secondary controls: no EPT/VPID and IA32_VMX_PROCBASED_CTLS2 is
	// never consulted.
	noSecondary := intelVMXMSRs(true)
	noSecondary[MSRVMXTrueProcbased] = allowed1(7)

	missing := intelVMXMSRs(true)
	delete(missing, MSRVMXProcbasedCtls2)
	delete(missing, MSRVMXTrueExit)

	tests := []struct {
		name   string
		msrs   map[uint32]uint64
		wantOK bool
		want   VMXCaps
	}{
		{
			name: "nested kvm_intel", msrs: full, wantOK: true,
			want: VMXCaps{
				Revision: 4, VMCSSize: 0x1000, TrueCtls: true,
				Pinbased:   []string{"ExternalInterruptExiting", "NMIExiting", "VirtualNMIs", "PreemptionTimer"},
				Procbased:  []string{"InterruptWindowExiting", "TSCOffsetting", "HLTExiting", "TPRShadow", "IOBitmaps", "MSRBitmaps", "SecondaryControls"},
				Procbased2: []string{"VirtualizeAPICAccesses", "EPT", "RDTSCP", "VPID", "UnrestrictedGuest", "ShadowVMCS"},
				Exit:       []string{"HostAddressSpaceSize", "AckInterruptOnExit", "SavePAT", "SaveEFER"},
				Entry:      []string{"IA32eModeGuest", "LoadPAT", "LoadEFER"},
				EPTVPID:    []string{"ExecuteOnly", "PageWalk4", "WBMemoryType", "2MPages", "INVEPT", "INVEPTSingleContext", "INVEPTAllContext", "INVVPID", "INVVPIDSingleContext", "INVVPIDAllContext"},
				EPT:        true, VPID: true, Unrestrict: true, ShadowVMCS: true, Misc: &kvmMisc,
			},
		},
		{
			name: "no true controls", msrs: plain, wantOK: true,
			want: VMXCaps{
				Revision: 4, VMCSSize: 0x1000,
				Pinbased:   []string{"ExternalInterruptExiting", "PostedInterrupts"},
				Procbased:  []string{"HLTExiting", "SecondaryControls"},
				Procbased2: []string{"VirtualizeAPICAccesses", "EPT", "RDTSCP", "VPID", "UnrestrictedGuest", "ShadowVMCS"},
				Exit:       []string{"HostAddressSpaceSize"},
				Entry:      []string{"IA32eModeGuest"},
				EPTVPID:    []string{"ExecuteOnly", "PageWalk4", "WBMemoryType", "2MPages", "INVEPT", "INVEPTSingleContext", "INVEPTAllContext", "INVVPID", "INVVPIDSingleContext", "INVVPIDAllContext"},
				EPT:        true, VPID: true, Unrestrict: true, ShadowVMCS: true, Misc: &kvmMisc,
			},
		},
		{
			name: "no secondary controls", msrs: noSecondary, wantOK: true,
			want: VMXCaps{
				Revision: 4, VMCSSize: 0x1000, TrueCtls: true,
				Pinbased:   []string{"ExternalInterruptExiting", "NMIExiting", "VirtualNMIs", "PreemptionTimer"},
				Procbased:  []string{"HLTExiting"},
				Procbased2: []string{},
				Exit:       []string{"HostAddressSpaceSize", "AckInterruptOnExit", "SavePAT", "SaveEFER"},
				Entry:      []string{"IA32eModeGuest", "LoadPAT", "LoadEFER"},
				EPTVPID:    []string{},
				Misc:       &kvmMisc,
			},
		},
		{
			name: "missing MSRs are listed", msrs: missing, wantOK: true,
			want: VMXCaps{
				Revision: 4, VMCSSize: 0x1000, TrueCtls: true,
				Pinbased:    []string{"ExternalInterruptExiting", "NMIExiting", "VirtualNMIs", "PreemptionTimer"},
				Procbased:   []string{"InterruptWindowExiting", "TSCOffsetting", "HLTExiting", "TPRShadow", "IOBitmaps", "MSRBitmaps", "SecondaryControls"},
				Procbased2:  []string{},
				Exit:        []string{},
				Entry:       []string{"IA32eModeGuest", "LoadPAT", "LoadEFER"},
				EPTVPID:     []string{},
				Misc:        &kvmMisc,
				MissingMSRs: []uint32{MSRVMXProcbasedCtls2, MSRVMXTrueExit},
			},
		},
		{name: "no IA32_VMX_BASIC", msrs: map[uint32]uint64{MSRVMXTruePinbased: 1}, wantOK: false},
		{name: "nothing (AMD or kvm_pvm)", msrs: nil, wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := DecodeVMX(tt.msrs)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

// kvmMisc is fake_test.go's IA32_VMX_MISC, as nested KVM reports it.
var kvmMisc = VMXMisc{PreemptionTimerRate: 5, ActivityStates: []string{"HLT", "wait-for-SIPI"}, MaxMSRList: 512, VMWriteAnyField: true}

func TestDecodeVMXMisc(t *testing.T) {
	tests := []struct {
		name string
		v    uint64
		want VMXMisc
	}{
		{"nested KVM", 0x20000165, kvmMisc},
		{"every field", 0x1f | 7<<6 | 4<<16 | 7<<25 | 1<<29,
			VMXMisc{PreemptionTimerRate: 31, ActivityStates: []string{"HLT", "shutdown", "wait-for-SIPI"}, CR3Targets: 4, MaxMSRList: 4096, VMWriteAnyField: true}},
		{"zero", 0, VMXMisc{ActivityStates: []string{}, MaxMSRList: 512}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, DecodeVMXMisc(tt.v))
		})
	}
}

func TestVMXCapsPreemptionTimer(t *testing.T) {
	c, ok := DecodeVMX(intelVMXMSRs(true))
	require.True(t, ok)
	assert.Equal(t, "preemption timer counting once per 32 TSC cycles (IA32_VMX_MISC rate 5)", c.PreemptionTimer())
	c.Misc = nil
	assert.Equal(t, "preemption timer, rate unknown (no IA32_VMX_MISC)", c.PreemptionTimer())
	assert.Equal(t, "no preemption timer", VMXCaps{Pinbased: []string{"NMIExiting"}}.PreemptionTimer())
}

func TestVMXCapsSummary(t *testing.T) {
	c, ok := DecodeVMX(intelVMXMSRs(true))
	assert.True(t, ok)
	assert.Equal(t, "VMCS rev 0x4, EPT, VPID, unrestricted guest, shadow VMCS", c.Summary())
	assert.Equal(t, "VMCS rev 0x12, no EPT, no VPID, no unrestricted guest, no shadow VMCS", VMXCaps{Revision: 0x12}.Summary())
}

func TestIsVMXMSR(t *testing.T) {
	for _, tt := range []struct {
		idx  uint32
		want bool
	}{{0x47f, false}, {0x480, true}, {0x48b, true}, {0x491, true}, {0x492, false}, {0x8b, false}} {
		assert.Equal(t, tt.want, IsVMXMSR(tt.idx), "%#x", tt.idx)
	}
}
