package hostinfo

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func TestDetectBackend(t *testing.T) {
	tests := []struct {
		name string
		fs   fstest.MapFS
		want Backend
	}{
		{"amd", fstest.MapFS{"sys/module/kvm/parameters/x": file(""), "sys/module/kvm_amd/parameters/nested": file("1\n")}, BackendAMD},
		{"intel", fstest.MapFS{"sys/module/kvm_intel/parameters/nested": file("Y\n")}, BackendIntel},
		{"pvm", fstest.MapFS{"sys/module/kvm_pvm/parameters/force": file("N\n")}, BackendPVM},
		{"other", fstest.MapFS{"sys/module/kvm/parameters/x": file("")}, BackendOther},
		{"none", fstest.MapFS{}, BackendNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, DetectBackend(tc.fs))
		})
	}
}

func TestParams(t *testing.T) {
	fsys := fstest.MapFS{
		"sys/module/kvm_amd/parameters/nested": file("1\n"),
		"sys/module/kvm_amd/parameters/npt":    file("Y\n"),
	}
	v, ok := Nested(fsys, BackendAMD)
	require.True(t, ok)
	assert.Equal(t, "1", v)
	assert.True(t, Enabled(v))
	name, v, ok := TwoDimensionalPaging(fsys, BackendAMD)
	require.True(t, ok)
	assert.Equal(t, "npt", name)
	assert.True(t, Enabled(v))
	_, ok = Nested(fsys, BackendIntel)
	assert.False(t, ok)
	_, _, ok = TwoDimensionalPaging(fsys, BackendPVM)
	assert.False(t, ok)
	for in, want := range map[string]bool{"Y": true, "y": true, "1": true, "N": false, "0": false, "": false, "junk": false} {
		assert.Equal(t, want, Enabled(in), in)
	}
}

func TestMemTotalAndCPU(t *testing.T) {
	fsys := fstest.MapFS{
		"proc/meminfo": file("MemTotal:       24576000 kB\nMemFree: 1 kB\n"),
		"proc/cpuinfo": file("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu svm hypervisor lm\n"),
	}
	n, err := MemTotal(fsys)
	require.NoError(t, err)
	assert.Equal(t, uint64(24576000)<<10, n)
	assert.Equal(t, "AMD EPYC", CPUModel(fsys))
	assert.True(t, CPUFlag(fsys, "svm"))
	assert.False(t, CPUFlag(fsys, "vmx"))
	g, ev := Guest(fsys)
	assert.True(t, g)
	assert.Contains(t, ev, "hypervisor bit set")

	_, err = MemTotal(fstest.MapFS{"proc/meminfo": file("MemFree: 1 kB\n")})
	assert.Error(t, err)
	_, err = MemTotal(fstest.MapFS{})
	assert.Error(t, err)
	g, ev = Guest(fstest.MapFS{})
	assert.False(t, g)
	assert.Contains(t, ev, "unavailable")
}

func TestVirtFlags(t *testing.T) {
	tests := []struct {
		name, cpuinfo string
		kind          string
		flags         []string
	}{
		// Linux 6.1 in the Intel lab's H (Bochs corei7_haswell_4770).
		{"vmx", "flags\t\t: fpu vmx ept vpid\nvmx flags\t: vnmi preemption_timer invvpid ept_x_only ept_1gb tsc_offset vtpr mtf vapic ept vpid unrestricted_guest shadow_vmcs\n",
			"VMX", []string{"vnmi", "preemption_timer", "invvpid", "ept_x_only", "ept_1gb", "tsc_offset", "vtpr", "mtf", "vapic", "ept", "vpid", "unrestricted_guest", "shadow_vmcs"}},
		{"vmx before Linux 5.8", "flags\t\t: fpu vmx\n", "VMX", nil},
		{"svm", "flags\t\t: fpu svm lm npt lbrv nrip_save vmcb_clean hypervisor\n", "SVM", []string{"npt", "lbrv", "nrip_save", "vmcb_clean"}},
		{"neither", "flags\t\t: fpu hypervisor\n", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, flags := VirtFlags(fstest.MapFS{"proc/cpuinfo": file("processor\t: 0\n" + tt.cpuinfo)})
			assert.Equal(t, tt.kind, kind)
			assert.Equal(t, tt.flags, flags)
		})
	}
	kind, flags := VirtFlags(fstest.MapFS{})
	assert.Equal(t, "", kind, "no /proc/cpuinfo")
	assert.Nil(t, flags)
}

func TestGuestSkipsEmptyDMIVendor(t *testing.T) {
	guest, ev := Guest(fstest.MapFS{
		"proc/cpuinfo":                file("processor\t: 0\nflags\t\t: fpu vmx\n"),
		"sys/class/dmi/id/sys_vendor": file("\n"), // Bochs's BIOS
	})
	assert.False(t, guest)
	assert.Equal(t, "CPUID hypervisor bit clear", ev)
}
