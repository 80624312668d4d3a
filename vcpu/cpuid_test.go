package vcpu

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/kvm"
)

func vendorLeaf(v string) kvm.CPUIDEntry2 {
	b := []byte(v)
	return kvm.CPUIDEntry2{
		Function: 0, EAX: 0x1f,
		EBX: binary.LittleEndian.Uint32(b[0:4]),
		EDX: binary.LittleEndian.Uint32(b[4:8]),
		ECX: binary.LittleEndian.Uint32(b[8:12]),
	}
}

// amdHost is a trimmed AMD supported-CPUID table with SVM.
func amdHost() []kvm.CPUIDEntry2 {
	return []kvm.CPUIDEntry2{
		vendorLeaf("AuthenticAMD"),
		{Function: 1, EBX: 0x00000800, ECX: 0x80002001, EDX: 0x178bfbff},
		{Function: 0x80000001, ECX: ext1ECXSVM | 1<<0},
		{Function: 0x80000008, EAX: 0x3030, ECX: 0x7007},
		{Function: 0x8000000a, EAX: 1, EBX: 0x8000, EDX: 0x1ff},
		{Function: 0x8000001e, EAX: 5, EBX: 0x105, ECX: 0x3},
	}
}

// intelHost is a trimmed Intel supported-CPUID table with VMX.
func intelHost() []kvm.CPUIDEntry2 {
	return []kvm.CPUIDEntry2{
		vendorLeaf("GenuineIntel"),
		{Function: 1, EBX: 0x00000800, ECX: feat1ECXVMX | 1<<0, EDX: 0x178bfbff},
		{Function: 4, Index: 0, Flags: kvm.CPUIDFlagSignificantIndex, EAX: 0x1c004121},
		{Function: 4, Index: 3, Flags: kvm.CPUIDFlagSignificantIndex, EAX: 0x1c03c163},
		{Function: 0xb, Index: 0, Flags: kvm.CPUIDFlagSignificantIndex, EAX: 1, EBX: 2, ECX: 0x100},
		{Function: 0xb, Index: 1, Flags: kvm.CPUIDFlagSignificantIndex, EAX: 5, EBX: 16, ECX: 0x201},
		{Function: 0xb, Index: 2, Flags: kvm.CPUIDFlagSignificantIndex, ECX: 2},
		{Function: 0x80000001, ECX: 1},
	}
}

// pvmHost has neither VMX nor SVM, like this project's kvm_pvm machines.
func pvmHost() []kvm.CPUIDEntry2 {
	return []kvm.CPUIDEntry2{
		vendorLeaf("AuthenticAMD"),
		{Function: 1, ECX: 1},
		{Function: 0x80000001, ECX: 1},
	}
}

func TestHostVendorAndExtensions(t *testing.T) {
	assert.Equal(t, VendorAMD, HostVendor(amdHost()))
	assert.Equal(t, VendorIntel, HostVendor(intelHost()))
	assert.Equal(t, VendorOther, HostVendor([]kvm.CPUIDEntry2{vendorLeaf("VIA VIA VIA ")}))
	assert.Equal(t, VendorOther, HostVendor(nil))
	assert.True(t, HasSVM(amdHost()))
	assert.False(t, HasVMX(amdHost()))
	assert.True(t, HasVMX(intelHost()))
	assert.False(t, HasSVM(pvmHost()))
	assert.False(t, HasVMX(pvmHost()))
}

func TestParseNested(t *testing.T) {
	for in, want := range map[string]Nested{"auto": NestedAuto, "": NestedAuto, "on": NestedOn, "off": NestedOff} {
		got, err := ParseNested(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := ParseNested("yes")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "want auto, on or off")
}

func TestNestedPolicy(t *testing.T) {
	tests := []struct {
		name    string
		host    []kvm.CPUIDEntry2
		nested  Nested
		exposed string
		wantErr bool
	}{
		{"amd auto", amdHost(), NestedAuto, "SVM", false},
		{"amd on", amdHost(), NestedOn, "SVM", false},
		{"amd off", amdHost(), NestedOff, "", false},
		{"intel auto", intelHost(), NestedAuto, "VMX", false},
		{"intel off", intelHost(), NestedOff, "", false},
		{"pvm auto", pvmHost(), NestedAuto, "", false},
		{"pvm on", pvmHost(), NestedOn, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := CPUIDPolicy{Supported: tc.host, CPUs: 1, Nested: tc.nested, Backend: "kvm_pvm"}
			assert.Equal(t, tc.exposed, p.NestedExposed())
			got, err := p.For(0)
			if tc.wantErr {
				require.ErrorIs(t, err, ErrNoNestedSupport)
				assert.Contains(t, err.Error(), "SVM (CPUID.80000001h:ECX[2])")
				assert.Contains(t, err.Error(), "kvm_pvm backend")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.exposed == "VMX", HasVMX(got), "VMX in guest CPUID")
			assert.Equal(t, tc.exposed == "SVM", HasSVM(got), "SVM in guest CPUID")
			if svm := Lookup(got, leafSVM, 0); svm != nil && tc.exposed == "" {
				assert.Equal(t, kvm.CPUIDEntry2{Function: leafSVM}, *svm, "leaf 0x8000000a cleared")
			}
			// The host table is never modified.
			assert.Equal(t, tc.name[:3] == "amd", HasSVM(tc.host))
			assert.Equal(t, tc.name[:3] == "int", HasVMX(tc.host))
		})
	}
}

func TestTopologyPerVCPU(t *testing.T) {
	p := CPUIDPolicy{Supported: intelHost(), CPUs: 4}
	for id := 0; id < 4; id++ {
		got, err := p.For(id)
		require.NoError(t, err)
		l1 := Lookup(got, 1, 0)
		require.NotNil(t, l1)
		assert.Equal(t, uint32(id), l1.EBX>>24, "initial APIC ID")
		assert.Equal(t, uint32(4), (l1.EBX>>16)&0xff, "logical processors")
		assert.NotZero(t, l1.EDX&feat1EDXHTT)
		assert.NotZero(t, l1.ECX&feat1ECXHypervisor)
		smt, core := Lookup(got, 0xb, 0), Lookup(got, 0xb, 1)
		require.NotNil(t, smt)
		require.NotNil(t, core)
		assert.Equal(t, []uint32{0, 1, topoLevelSMT << 8, uint32(id)}, []uint32{smt.EAX, smt.EBX, smt.ECX, smt.EDX})
		assert.Equal(t, []uint32{2, 4, topoLevelCore<<8 | 1, uint32(id)}, []uint32{core.EAX, core.EBX, core.ECX, core.EDX})
		end := Lookup(got, 0xb, 2)
		require.NotNil(t, end)
		assert.Zero(t, (end.ECX>>8)&0xff, "level type 0 ends the list")
		c3 := Lookup(got, 4, 3)
		require.NotNil(t, c3)
		assert.Equal(t, uint32(3), c3.EAX>>26, "cores per package - 1")
		assert.Equal(t, uint32(3), (c3.EAX>>14)&0xfff, "L3 shared by all")
	}

	a := CPUIDPolicy{Supported: amdHost(), CPUs: 2}
	got, err := a.For(1)
	require.NoError(t, err)
	assert.Equal(t, uint32(1), Lookup(got, leafAMDTopology, 0).EAX)
	assert.Equal(t, uint32(1), Lookup(got, leafAddrSizes, 0).ECX&0xff)
	assert.Equal(t, uint32(1), (Lookup(got, leafAddrSizes, 0).ECX>>12)&0xf)
	assert.NotZero(t, Lookup(got, leafExtFeatures, 0).ECX&ext1ECXCmpLegacy)
}

func TestTSCDeadline(t *testing.T) {
	for _, on := range []bool{false, true} {
		got, err := CPUIDPolicy{Supported: amdHost(), CPUs: 1, TSCDeadline: on}.For(0)
		require.NoError(t, err)
		assert.Equal(t, on, Lookup(got, 1, 0).ECX&feat1ECXTSCDeadline != 0)
	}
}

func TestPolicyRejectsBadIDs(t *testing.T) {
	_, err := CPUIDPolicy{Supported: amdHost(), CPUs: 2}.For(2)
	require.Error(t, err)
	_, err = CPUIDPolicy{Supported: amdHost(), CPUs: 0}.For(0)
	require.Error(t, err)
}

func TestBootMSRs(t *testing.T) {
	plain := BootMSRs(false)
	withVMX := BootMSRs(true)
	assert.Len(t, withVMX, len(plain)+1)
	last := withVMX[len(withVMX)-1]
	assert.Equal(t, uint32(msrIA32FeatureControl), last.Index)
	assert.Equal(t, uint64(0x5), last.Data, "locked, VMXON outside SMX")
	for _, m := range plain {
		assert.NotEqual(t, uint32(msrIA32FeatureControl), m.Index)
		if m.Index == msrMTRRDefType {
			assert.Equal(t, uint64(0x806), m.Data)
		}
	}
}
