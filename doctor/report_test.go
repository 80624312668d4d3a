package doctor

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"sort"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func keys(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

// TestJSONShape pins the -json document tools read.
func TestJSONShape(t *testing.T) {
	tests := []struct {
		name       string
		host       func() (fstest.MapFS, *fakeKVM)
		wantNest   bool
		wantVMX    bool
		wantSVM    bool
		wantBacked string
	}{
		{"kvm_pvm", pvmHost, false, false, false, "kvm_pvm"},
		{"kvm_amd", amdNestedHost, true, false, true, "kvm_amd"},
		{"kvm_intel", func() (fstest.MapFS, *fakeKVM) { return intelNestedHost(true) }, true, true, false, "kvm_intel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, k := tt.host()
			var b bytes.Buffer
			require.NoError(t, Examine(host(f, k, nil)).WriteJSON(&b))
			var doc map[string]any
			require.NoError(t, json.Unmarshal(b.Bytes(), &doc))

			assert.Equal(t, []string{"backend", "can_nest", "checks", "host_virt_flags", "nested_state_size", "speed_params", "svm", "timing", "verdict", "vmx"}, keys(doc))
			assert.Equal(t, tt.wantNest, doc["can_nest"])
			assert.Equal(t, tt.wantBacked, doc["backend"])
			assert.IsType(t, "", doc["verdict"])

			checks, ok := doc["checks"].([]any)
			require.True(t, ok)
			require.Len(t, checks, len(allChecks))
			for i, c := range checks {
				m, ok := c.(map[string]any)
				require.True(t, ok)
				assert.Equal(t, []string{"evidence", "name", "status"}, keys(m))
				assert.Equal(t, allChecks[i], m["name"])
				assert.Contains(t, []any{"ok", "warn", "fail", "unavailable"}, m["status"])
			}

			timing, ok := doc["timing"].(map[string]any)
			require.True(t, ok)
			assert.Equal(t, []string{"cpl0", "cpl3", "ring0_emulated"}, keys(timing))
			cpl0, ok := timing["cpl0"].(map[string]any)
			require.True(t, ok)
			assert.Equal(t, []string{"cpu_ns", "iterations", "ns_per_iter", "wall_ns"}, keys(cpl0))

			if tt.wantVMX {
				vmx, ok := doc["vmx"].(map[string]any)
				require.True(t, ok)
				assert.Equal(t, []string{"entry", "ept", "ept_vpid", "exit", "misc", "pinbased", "procbased", "procbased2",
					"shadow_vmcs", "true_controls", "unrestricted_guest", "vmcs_revision", "vmcs_size", "vpid"}, keys(vmx))
				assert.Equal(t, true, vmx["ept"])
			} else {
				assert.Nil(t, doc["vmx"])
			}
			if tt.wantSVM {
				svm, ok := doc["svm"].(map[string]any)
				require.True(t, ok)
				assert.Equal(t, []string{"asids", "features", "npt", "nrips", "revision"}, keys(svm))
				assert.Equal(t, true, svm["npt"])
			} else {
				assert.Nil(t, doc["svm"])
			}
		})
	}
}

func TestJSONWithoutKVM(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, Examine(host(fstest.MapFS{}, nil, noKVMOpenError(t))).WriteJSON(&b))
	var doc map[string]any
	require.NoError(t, json.Unmarshal(b.Bytes(), &doc))
	assert.Equal(t, false, doc["can_nest"])
	assert.Equal(t, "none", doc["backend"])
	assert.Nil(t, doc["timing"])
	assert.Nil(t, doc["vmx"])
	assert.Nil(t, doc["svm"])
	assert.Equal(t, float64(0), doc["nested_state_size"])
}

func TestDeviceNode(t *testing.T) {
	groups := &fstest.MapFile{Data: []byte("root:x:0:\nkvm:x:36:qemu\n")}
	users := &fstest.MapFile{Data: []byte("root:x:0:0::/root:/bin/sh\nqemu:x:107:36::/:/bin/false\n")}
	chr := fs.ModeDevice | fs.ModeCharDevice
	tests := []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{
			name: "group kvm, rw for the group",
			fsys: fstest.MapFS{"dev/kvm": {Mode: chr | 0o660, Sys: &syscall.Stat_t{Gid: 36}}, "etc/group": groups, "etc/passwd": users},
			want: "/dev/kvm crw-rw---- root:kvm",
		},
		{
			name: "root only (this project's machines)",
			fsys: fstest.MapFS{"dev/kvm": {Mode: chr | 0o600, Sys: &syscall.Stat_t{}}, "etc/group": groups, "etc/passwd": users},
			want: "/dev/kvm crw------- root:root",
		},
		{
			name: "unknown ids are shown as numbers",
			fsys: fstest.MapFS{"dev/kvm": {Mode: chr | 0o666, Sys: &syscall.Stat_t{Uid: 107, Gid: 999}}, "etc/passwd": users},
			want: "/dev/kvm crw-rw-rw- qemu:999",
		},
		{
			name: "no owner information",
			fsys: fstest.MapFS{"dev/kvm": {Mode: chr | 0o666}},
			want: "/dev/kvm crw-rw-rw-",
		},
		{
			name: "a regular file",
			fsys: fstest.MapFS{"dev/kvm": {Mode: 0o644}},
			want: "/dev/kvm -rw-r--r-- (not a character device)",
		},
		{name: "absent", fsys: fstest.MapFS{}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, deviceNode(tt.fsys))
		})
	}
}

func TestStartupWarning(t *testing.T) {
	mods := func(m map[string]map[string]string) fstest.MapFS { return files("X", "", m) }
	tests := []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"kvm_pvm", mods(map[string]map[string]string{"kvm": {}, "kvm_pvm": {}}),
			"this host's KVM (kvm_pvm) emulates ring-0 guest code about 1000x slower and cannot nest; see gonest doctor, or use the lab (make lab)"},
		{"kvm_amd nested=0", mods(map[string]map[string]string{"kvm": {}, "kvm_amd": {"nested": "0"}}),
			"kvm_amd is loaded with nested=0: the guest gets no SVM and cannot run guests of its own; reload kvm_amd with nested=1, see gonest doctor"},
		{"kvm_intel nested=N", mods(map[string]map[string]string{"kvm": {}, "kvm_intel": {"nested": "N"}}),
			"kvm_intel is loaded with nested=N: the guest gets no VMX and cannot run guests of its own; reload kvm_intel with nested=1, see gonest doctor"},
		{"kvm_amd nested=1", mods(map[string]map[string]string{"kvm": {}, "kvm_amd": {"nested": "1"}}), ""},
		{"kvm_intel nested=Y", mods(map[string]map[string]string{"kvm": {}, "kvm_intel": {"nested": "Y"}}), ""},
		{"kvm_amd, nested unreadable", mods(map[string]map[string]string{"kvm": {}, "kvm_amd": {}}), ""},
		{"no kvm (gonest run will say why when it opens /dev/kvm)", fstest.MapFS{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, StartupWarning(tt.fsys))
		})
	}
}

// TestJSONRoundTrip: a report read back from -json prints the same text,
// which the doctor scenario relies on (it runs doctor -json and prints
// the text itself).
func TestJSONRoundTrip(t *testing.T) {
	hosts := map[string]func() (fstest.MapFS, *fakeKVM){
		"kvm_amd":   amdNestedHost,
		"kvm_intel": func() (fstest.MapFS, *fakeKVM) { return intelNestedHost(true) },
	}
	for name, mk := range hosts {
		t.Run(name, func(t *testing.T) {
			f, k := mk()
			r := Examine(host(f, k, nil))
			var js, want, got bytes.Buffer
			require.NoError(t, r.WriteJSON(&js))
			require.NoError(t, r.WriteText(&want))
			var back Report
			require.NoError(t, json.Unmarshal(js.Bytes(), &back))
			require.NoError(t, back.WriteText(&got))
			assert.Equal(t, want.String(), got.String())
			assert.Equal(t, r.Metrics(), back.Metrics())
		})
	}
}

func TestMetrics(t *testing.T) {
	f, k := intelNestedHost(true)
	assert.Equal(t, map[string]float64{
		"can_nest": 1, "nested_state_size": 8320,
		"vmx.vmcs_revision": 4, "vmx.true_controls": 1, "vmx.ept": 1, "vmx.vpid": 1, "vmx.unrestricted_guest": 1,
		"vmx.shadow_vmcs": 1, "vmx.preemption_timer": 1, "vmx.preemption_timer_rate": 5,
	}, Examine(host(f, k, nil)).Metrics())

	f, k = amdNestedHost()
	m := Examine(host(f, k, nil)).Metrics()
	assert.Equal(t, float64(1), m["can_nest"])
	assert.Equal(t, float64(1), m["svm.npt"])
	assert.NotContains(t, m, "vmx.ept", "no VMX on an AMD host")

	assert.Equal(t, map[string]float64{"can_nest": 0, "nested_state_size": 0},
		Examine(host(fstest.MapFS{}, nil, noKVMOpenError(t))).Metrics())
}
