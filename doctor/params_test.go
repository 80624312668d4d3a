package doctor

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/hostinfo"
)

func TestReadSpeedParams(t *testing.T) {
	type want struct {
		value string
		on    bool
		slows bool
		says  string
	}
	tests := []struct {
		name    string
		backend hostinfo.Backend
		params  map[string]string
		want    map[string]want
	}{
		{
			name:    "the lab's H: QEMU's SVM has no NRIPS, VLS or VGIF, so kvm_amd turned them off",
			backend: hostinfo.BackendAMD,
			params:  map[string]string{"nested": "1", "nrips": "0", "vls": "0", "vgif": "0", "avic": "N"},
			want: map[string]want{
				"nrips": {"0", false, true, "KVM decodes every intercepted instruction"},
				"vls":   {"0", false, true, "two VMLOADs and one VMSAVE per entry into G2"},
				"vgif":  {"0", false, true, "CLGI and STGI, one pair per entry into G2"},
				"avic":  {"N", false, false, "no AVIC (the default"},
			},
		},
		{
			name:    "AMD hardware with every assist",
			backend: hostinfo.BackendAMD,
			params:  map[string]string{"nrips": "1", "vls": "1", "vgif": "1", "avic": "Y"},
			want: map[string]want{
				"nrips": {"1", true, false, "without decoding it"},
				"vls":   {"1", true, false, "run without exits"},
				"vgif":  {"1", true, false, "run without exits"},
				"avic":  {"Y", true, false, "inhibited while it runs G2"},
			},
		},
		{
			name:    "Intel with shadow VMCS off",
			backend: hostinfo.BackendIntel,
			params:  map[string]string{"ept": "Y", "vpid": "Y", "enable_shadow_vmcs": "N", "enable_apicv": "N"},
			want: map[string]want{
				"ept":                {"Y", true, false, "EPT emulated for G1's guests"},
				"vpid":               {"Y", true, false, "vpid02"},
				"enable_shadow_vmcs": {"N", false, true, "each VMREAD and VMWRITE of G1"},
				"enable_apicv":       {"N", false, false, "no posted interrupts"},
			},
		},
		{
			name:    "Intel, everything on",
			backend: hostinfo.BackendIntel,
			params:  map[string]string{"ept": "Y", "vpid": "Y", "enable_shadow_vmcs": "Y", "enable_apicv": "Y"},
			want: map[string]want{
				"ept":                {"Y", true, false, "nested_vmx_setup_ctls_msrs"},
				"vpid":               {"Y", true, false, "TLB tag"},
				"enable_shadow_vmcs": {"Y", true, false, "advertises shadow VMCS to G1 whatever this says"},
				"enable_apicv":       {"Y", true, false, "posted interrupts for G2"},
			},
		},
		{
			name:    "an older kvm_intel without enable_apicv",
			backend: hostinfo.BackendIntel,
			params:  map[string]string{"ept": "Y", "vpid": "N", "enable_shadow_vmcs": "Y"},
			want: map[string]want{
				"ept":                {"Y", true, false, ""},
				"vpid":               {"N", false, true, "flushes G1's guest TLB"},
				"enable_shadow_vmcs": {"Y", true, false, ""},
				"enable_apicv":       {"", false, false, "unreadable: this kernel's kvm_intel has no such parameter"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := files("Test", "fpu", map[string]map[string]string{string(tt.backend): tt.params})
			got := ReadSpeedParams(fsys, tt.backend)
			require.Len(t, got, len(tt.want))
			for _, p := range got {
				w, ok := tt.want[p.Name]
				require.True(t, ok, p.Name)
				assert.Equal(t, w.value, p.Value, p.Name)
				assert.Equal(t, w.on, p.On, p.Name)
				assert.Equal(t, w.slows, p.Slows, p.Name)
				assert.Contains(t, p.Effect, w.says, p.Name)
			}
		})
	}
	assert.Empty(t, ReadSpeedParams(files("AuthenticAMD", "fpu", nil), hostinfo.BackendPVM), "kvm_pvm has none")
	assert.NotNil(t, ReadSpeedParams(files("AuthenticAMD", "fpu", nil), hostinfo.BackendNone), "[] in JSON, not null")
}

// TestSpeedParamsInReport: the text report lists the parameters after the
// checks, and the JSON carries them.
func TestSpeedParamsInReport(t *testing.T) {
	f, k := amdNestedHost()
	for p, v := range map[string]string{"nrips": "0", "vls": "0", "vgif": "0", "avic": "N"} {
		f["sys/module/kvm_amd/parameters/"+p] = files("", "", map[string]map[string]string{"m": {p: v}})["sys/module/m/parameters/"+p]
	}
	r := Examine(host(f, k, nil))
	require.Len(t, r.SpeedParams, 4)
	var b bytes.Buffer
	require.NoError(t, r.WriteText(&b))
	text := b.String()
	i := strings.Index(text, "nested speed: kvm_amd parameters of this machine's KVM (L0 to the guests it runs)\n")
	require.Positive(t, i, text)
	assert.Greater(t, i, strings.Index(text, "host_is_guest"), "after the checks")
	assert.Contains(t, text, "\n  slows        nrips=0: no next-RIP save")
	assert.Contains(t, text, "\n               avic=N: no AVIC")

	f, k = pvmHost()
	r = Examine(host(f, k, nil))
	b.Reset()
	require.NoError(t, r.WriteText(&b))
	assert.NotContains(t, b.String(), "nested speed", "kvm_pvm has no such parameters")
}
