package doctor

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gonest/gonest/hostinfo"
	"github.com/gonest/gonest/kvm"
)

// statuses maps each check's name to its status.
func statuses(r *Report) map[string]Status {
	m := make(map[string]Status, len(r.Checks))
	for _, c := range r.Checks {
		m[c.Name] = c.Status
	}
	return m
}

// allChecks is every check in report order.
var allChecks = []string{
	CheckDevice, CheckAPIVersion, CheckBackend, CheckNestedParam, CheckSupportedCPUID,
	CheckTDP, CheckNestedState, CheckVMXMSRs, CheckSVMFeatures, CheckHostVirt, CheckTiming, CheckHostIsGuest,
}

// noKVMOpenError is the real error kvm.OpenPath gives for a missing device.
func noKVMOpenError(t *testing.T) error {
	_, err := kvm.OpenPath(filepath.Join(t.TempDir(), "kvm"))
	require.Error(t, err)
	return err
}

func TestExamineHosts(t *testing.T) {
	const lab = "; run the nested demo in the lab: make run (or make lab)"
	tests := []struct {
		name        string
		host        func(t *testing.T) Host
		wantBackend hostinfo.Backend
		wantNest    bool
		wantVerdict string
		// verdictOpenErr: the verdict is the "NOT possible" prefix plus
		// the open error's message.
		verdictOpenErr bool
		want           map[string]Status
	}{
		{
			name:        "kvm_pvm on AMD (this project's machines)",
			host:        func(t *testing.T) Host { f, k := pvmHost(); return host(f, k, nil) },
			wantBackend: hostinfo.BackendPVM,
			wantVerdict: "nested virtualization is NOT possible here: /dev/kvm is kvm_pvm (software), which offers no SVM or VMX to guests" + lab,
			want: map[string]Status{
				CheckDevice: StatusOK, CheckAPIVersion: StatusOK, CheckBackend: StatusFail,
				CheckNestedParam: StatusUnavailable, CheckSupportedCPUID: StatusFail, CheckTDP: StatusUnavailable,
				CheckNestedState: StatusFail, CheckVMXMSRs: StatusUnavailable, CheckSVMFeatures: StatusFail, CheckHostVirt: StatusUnavailable,
				CheckTiming: StatusWarn, CheckHostIsGuest: StatusWarn,
			},
		},
		{
			name: "kvm_pvm on Intel",
			host: func(t *testing.T) Host {
				f, k := pvmHost()
				k.cpuid = intelCPUID(false)
				return host(f, k, nil)
			},
			wantBackend: hostinfo.BackendPVM,
			wantVerdict: "nested virtualization is NOT possible here: /dev/kvm is kvm_pvm (software), which offers no SVM or VMX to guests" + lab,
			want: map[string]Status{
				CheckDevice: StatusOK, CheckAPIVersion: StatusOK, CheckBackend: StatusFail,
				CheckNestedParam: StatusUnavailable, CheckSupportedCPUID: StatusFail, CheckTDP: StatusUnavailable,
				CheckNestedState: StatusFail, CheckVMXMSRs: StatusFail, CheckSVMFeatures: StatusUnavailable, CheckHostVirt: StatusUnavailable,
				CheckTiming: StatusWarn, CheckHostIsGuest: StatusWarn,
			},
		},
		{
			name:        "kvm_amd nested=1 (the lab's H)",
			host:        func(t *testing.T) Host { f, k := amdNestedHost(); return host(f, k, nil) },
			wantBackend: hostinfo.BackendAMD,
			wantNest:    true,
			wantVerdict: "nested virtualization available: kvm_amd with nested=1 offers SVM (NPT, LbrVirt, NRIPS, TscRateMsr, VmcbClean, FlushByAsid, ...)",
			want: map[string]Status{
				CheckDevice: StatusOK, CheckAPIVersion: StatusOK, CheckBackend: StatusOK,
				CheckNestedParam: StatusOK, CheckSupportedCPUID: StatusOK, CheckTDP: StatusOK,
				CheckNestedState: StatusOK, CheckVMXMSRs: StatusUnavailable, CheckSVMFeatures: StatusOK, CheckHostVirt: StatusOK,
				CheckTiming: StatusOK, CheckHostIsGuest: StatusWarn,
			},
		},
		{
			name:        "kvm_intel nested=Y with VMX MSRs",
			host:        func(t *testing.T) Host { f, k := intelNestedHost(true); return host(f, k, nil) },
			wantBackend: hostinfo.BackendIntel,
			wantNest:    true,
			wantVerdict: "nested virtualization available: kvm_intel with nested=Y offers VMX (EPT, VPID, unrestricted guest, shadow VMCS)",
			want: map[string]Status{
				CheckDevice: StatusOK, CheckAPIVersion: StatusOK, CheckBackend: StatusOK,
				CheckNestedParam: StatusOK, CheckSupportedCPUID: StatusOK, CheckTDP: StatusOK,
				CheckNestedState: StatusOK, CheckVMXMSRs: StatusOK, CheckSVMFeatures: StatusUnavailable, CheckHostVirt: StatusOK,
				CheckTiming: StatusOK, CheckHostIsGuest: StatusOK,
			},
		},
		{
			name:        "kvm_intel nested=Y, ept=N",
			host:        func(t *testing.T) Host { f, k := intelNestedHost(false); return host(f, k, nil) },
			wantBackend: hostinfo.BackendIntel,
			wantNest:    true,
			wantVerdict: "nested virtualization available: kvm_intel with nested=Y offers VMX (no EPT, VPID, unrestricted guest, shadow VMCS); without NPT/EPT for guests, nested guests run on shadow page tables (slow)",
			want: map[string]Status{
				CheckDevice: StatusOK, CheckAPIVersion: StatusOK, CheckBackend: StatusOK,
				CheckNestedParam: StatusOK, CheckSupportedCPUID: StatusOK, CheckTDP: StatusWarn,
				CheckNestedState: StatusOK, CheckVMXMSRs: StatusOK, CheckSVMFeatures: StatusUnavailable, CheckHostVirt: StatusOK,
				CheckTiming: StatusOK, CheckHostIsGuest: StatusOK,
			},
		},
		{
			name: "kvm_amd nested=0",
			host: func(t *testing.T) Host {
				f, k := amdNestedHost()
				f["sys/module/kvm_amd/parameters/nested"] = &fstest.MapFile{Data: []byte("0\n")}
				k.cpuid = amdCPUID(false, 0) // KVM hides SVM with nested=0
				// KVM_CAP_NESTED_STATE stays: it comes with kvm_amd.
				return host(f, k, nil)
			},
			wantBackend: hostinfo.BackendAMD,
			wantVerdict: "nested virtualization is NOT possible here: kvm_amd is loaded with nested=0, so KVM offers no SVM to guests; reload it with nested=1 (modprobe -r kvm_amd && modprobe kvm_amd nested=1), or run the nested demo in the lab: make run (or make lab)",
			want: map[string]Status{
				CheckDevice: StatusOK, CheckAPIVersion: StatusOK, CheckBackend: StatusOK,
				CheckNestedParam: StatusFail, CheckSupportedCPUID: StatusFail, CheckTDP: StatusUnavailable,
				CheckNestedState: StatusOK, CheckVMXMSRs: StatusUnavailable, CheckSVMFeatures: StatusFail, CheckHostVirt: StatusOK,
				CheckTiming: StatusOK, CheckHostIsGuest: StatusWarn,
			},
		},
		{
			name: "no /dev/kvm",
			host: func(t *testing.T) Host {
				f := files("AuthenticAMD", "fpu svm", nil)
				delete(f, "dev/kvm")
				return host(f, nil, noKVMOpenError(t))
			},
			wantBackend:    hostinfo.BackendNone,
			verdictOpenErr: true,
			want: map[string]Status{
				CheckDevice: StatusFail, CheckAPIVersion: StatusUnavailable, CheckBackend: StatusFail,
				CheckNestedParam: StatusUnavailable, CheckSupportedCPUID: StatusUnavailable, CheckTDP: StatusUnavailable,
				CheckNestedState: StatusUnavailable, CheckVMXMSRs: StatusUnavailable, CheckSVMFeatures: StatusUnavailable, CheckHostVirt: StatusOK,
				CheckTiming: StatusUnavailable, CheckHostIsGuest: StatusOK,
			},
		},
		{
			name: "EACCES on /dev/kvm",
			host: func(t *testing.T) Host {
				f, _ := amdNestedHost()
				return host(f, nil, &kvm.OpenError{
					Msg: "/dev/kvm is not accessible to this user: add the user to the kvm group, or run as root",
					Err: unix.EACCES,
				})
			},
			wantBackend: hostinfo.BackendAMD,
			wantVerdict: "nested virtualization is NOT possible here: /dev/kvm is not readable and writable by this user: " + KVMAccessFix,
			want: map[string]Status{
				CheckDevice: StatusFail, CheckAPIVersion: StatusUnavailable, CheckBackend: StatusOK,
				CheckNestedParam: StatusOK, CheckSupportedCPUID: StatusUnavailable, CheckTDP: StatusUnavailable,
				CheckNestedState: StatusUnavailable, CheckVMXMSRs: StatusUnavailable, CheckSVMFeatures: StatusUnavailable, CheckHostVirt: StatusOK,
				CheckTiming: StatusUnavailable, CheckHostIsGuest: StatusWarn,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.host(t)
			r := Examine(h)
			want := tt.wantVerdict
			if tt.verdictOpenErr {
				_, err := h.OpenKVM()
				want = "nested virtualization is NOT possible here: " + err.Error()
				assert.Contains(t, want, "does not exist: load kvm_intel or kvm_amd, or run inside the lab (make lab)")
			}
			assert.Equal(t, want, r.Verdict)
			assert.NotContains(t, r.Verdict, "\n", "the verdict is one line")
			assert.Equal(t, tt.wantNest, r.CanNest)
			assert.Equal(t, map[bool]int{true: 0, false: 1}[tt.wantNest], r.ExitCode())
			assert.Equal(t, tt.wantBackend, r.Backend)
			assert.Equal(t, tt.want, statuses(r))
			var names []string
			for _, c := range r.Checks {
				names = append(names, c.Name)
				assert.NotEmpty(t, c.Evidence, "check %s", c.Name)
				assert.NotContains(t, c.Evidence, "\n", "check %s", c.Name)
			}
			assert.Equal(t, allChecks, names, "checks in report order")
		})
	}
}

func TestExamineEvidence(t *testing.T) {
	f, k := intelNestedHost(true)
	r := Examine(host(f, k, nil))
	require.NotNil(t, r.VMX)
	assert.Nil(t, r.SVM)
	assert.Equal(t, uint32(4), r.VMX.Revision)
	assert.Equal(t, uint32(0x1000), r.VMX.VMCSSize)
	assert.Equal(t, 8320, r.NestedStateSize)

	want := map[string]string{
		CheckDevice:         "/dev/kvm crw-rw---- root:kvm, opened read-write",
		CheckNestedParam:    "/sys/module/kvm_intel/parameters/nested=Y: KVM may offer VMX to its guests",
		CheckSupportedCPUID: "VMX offered to guests (leaf 1 ECX bit 5 set in 3 entries)",
		CheckTDP:            "ept=Y (host KVM's own paging); VMX secondary controls EPT set: the guest can give its own guests hardware two-dimensional paging",
		CheckNestedState:    "KVM_CAP_NESTED_STATE=8320: KVM can save and restore a guest that is running its own guest (up to 8320 bytes of state)",
		CheckVMXMSRs:        "VMCS rev 0x4, EPT, VPID, unrestricted guest, shadow VMCS; preemption timer counting once per 32 TSC cycles (IA32_VMX_MISC rate 5); secondary controls: VirtualizeAPICAccesses, EPT, RDTSCP, VPID, UnrestrictedGuest, ShadowVMCS",
		CheckTiming:         "CPL 0 0.30 ns, CPL 3 0.30 ns per dec/jnz iteration: ring 0 runs like ring 3: KVM runs the guest's code directly",
		CheckHostIsGuest:    "no (CPUID hypervisor bit clear)",
	}
	for name, ev := range want {
		c, ok := r.Check(name)
		require.True(t, ok, name)
		assert.Equal(t, ev, c.Evidence, name)
	}
}

func TestExamineVMXMSRsPartialRead(t *testing.T) {
	// KVM_GET_MSRS stops at the first MSR it does not know: here the list
	// names IA32_VMX_VMFUNC but reading it fails, so it is reported missing.
	f, k := intelNestedHost(true)
	delete(k.msrs, MSRVMXVMFunc)
	k.featureList = append(k.featureList, MSRVMXVMFunc)
	r := Examine(host(f, k, nil))
	c, ok := r.Check(CheckVMXMSRs)
	require.True(t, ok)
	// VMFUNC is not decoded by name, so a failed read costs nothing.
	assert.Equal(t, StatusOK, c.Status)
	require.NotNil(t, r.VMX)

	// Missing IA32_VMX_EPT_VPID_CAP is reported.
	f, k = intelNestedHost(true)
	delete(k.msrs, MSRVMXEPTVPIDCap)
	k.featureList = featureList(k.msrs)
	r = Examine(host(f, k, nil))
	c, _ = r.Check(CheckVMXMSRs)
	assert.Equal(t, StatusWarn, c.Status)
	assert.Contains(t, c.Evidence, "missing 0x48c")
}

func TestExamineSurvivesBrokenKVM(t *testing.T) {
	// Every ioctl fails: each check says so, nothing panics, no nesting.
	broken := errors.New("KVM_IOCTL: input/output error")
	f, _ := amdNestedHost()
	k := &fakeKVM{apiErr: broken, capErr: broken, cpuidErr: broken, featureErr: broken, msrErr: broken, loopErr: broken}
	r := Examine(host(f, k, nil))
	assert.False(t, r.CanNest)
	assert.Equal(t, "nested virtualization is NOT possible here: cannot read what KVM offers guests (KVM_IOCTL: input/output error); run the nested demo in the lab: make run (or make lab)", r.Verdict)
	assert.Equal(t, map[string]Status{
		CheckDevice: StatusOK, CheckAPIVersion: StatusFail, CheckBackend: StatusOK,
		CheckNestedParam: StatusOK, CheckSupportedCPUID: StatusUnavailable, CheckTDP: StatusUnavailable,
		CheckNestedState: StatusUnavailable, CheckVMXMSRs: StatusUnavailable, CheckSVMFeatures: StatusUnavailable, CheckHostVirt: StatusOK,
		CheckTiming: StatusUnavailable, CheckHostIsGuest: StatusWarn,
	}, statuses(r))
	assert.True(t, k.closed)
}

func TestExamineWithoutFeatureMSRCap(t *testing.T) {
	f, k := intelNestedHost(true)
	delete(k.caps, kvm.CapGetMSRFeatures)
	r := Examine(host(f, k, nil))
	c, _ := r.Check(CheckVMXMSRs)
	assert.Equal(t, Check{Name: CheckVMXMSRs, Status: StatusUnavailable,
		Evidence: "no KVM_CAP_GET_MSR_FEATURES: this kernel cannot report feature MSRs"}, c)
	assert.Nil(t, r.VMX)
	assert.True(t, r.CanNest, "CPUID decides; the MSRs only describe")
	assert.Equal(t, "nested virtualization available: kvm_intel with nested=Y offers VMX", r.Verdict)
	assert.Equal(t, StatusUnavailable, statuses(r)[CheckTDP], "EPT for guests is unknown without the MSRs")
}

func TestExamineClosesKVM(t *testing.T) {
	f, k := pvmHost()
	Examine(host(f, k, nil))
	assert.True(t, k.closed)

	f, k = pvmHost()
	k.closeErr = errors.New("close /dev/kvm: bad file descriptor")
	r := Examine(host(f, k, nil))
	c, _ := r.Check(CheckDevice)
	assert.Equal(t, Check{Name: CheckDevice, Status: StatusWarn,
		Evidence: "/dev/kvm crw-rw---- root:kvm, opened read-write; closing it: close /dev/kvm: bad file descriptor"}, c)
}

func TestExamineEmptyHost(t *testing.T) {
	// Neither files nor a way to open /dev/kvm: still a full report.
	r := Examine(Host{})
	assert.False(t, r.CanNest)
	assert.Equal(t, "nested virtualization is NOT possible here: no way to open /dev/kvm was given", r.Verdict)
	assert.Equal(t, hostinfo.BackendNone, r.Backend)
	assert.Len(t, r.Checks, len(allChecks))
	c, _ := r.Check(CheckHostIsGuest)
	assert.Equal(t, Check{Name: CheckHostIsGuest, Status: StatusUnavailable,
		Evidence: "cannot tell: no /proc/cpuinfo, /sys/hypervisor/type or DMI vendor"}, c)
}

func TestExamineOtherBackend(t *testing.T) {
	// A kernel whose vendor module doctor does not know, but whose KVM
	// offers SVM: CPUID decides.
	f, k := amdNestedHost()
	delete(f, "sys/module/kvm_amd")
	delete(f, "sys/module/kvm_amd/parameters/nested")
	delete(f, "sys/module/kvm_amd/parameters/npt")
	r := Examine(host(f, k, nil))
	assert.True(t, r.CanNest)
	assert.Equal(t, hostinfo.BackendOther, r.Backend)
	assert.Equal(t, "nested virtualization available: KVM (other) offers SVM (NPT, LbrVirt, NRIPS, TscRateMsr, VmcbClean, FlushByAsid, ...)", r.Verdict)
	assert.Equal(t, StatusWarn, statuses(r)[CheckBackend])
}

// TestTextReport shows the whole report for this project's machines, as a
// learner sees it (the timing figures come from the fake).
func TestTextReport(t *testing.T) {
	f, k := pvmHost()
	var b bytes.Buffer
	require.NoError(t, Examine(host(f, k, nil)).WriteText(&b))
	want := `verdict: nested virtualization is NOT possible here: /dev/kvm is kvm_pvm (software), which offers no SVM or VMX to guests; run the nested demo in the lab: make run (or make lab)
  ok           device           /dev/kvm crw-rw---- root:kvm, opened read-write
  ok           api_version      12 (KVM_GET_API_VERSION)
  fail         backend          kvm_pvm: PVM (Pagetable Virtual Machine), KVM without hardware virtualization for cloud guests whose provider disables nesting; it never offers SVM or VMX to its own guests
  unavailable  nested_param     kvm_pvm has no nested parameter (only kvm_amd and kvm_intel do)
  fail         supported_cpuid  neither SVM (Fn8000_0001 ECX bit 2) nor VMX (leaf 1 ECX bit 5) in 5 entries, so a guest cannot run KVM itself; the host CPU shows neither svm nor vmx in /proc/cpuinfo
  unavailable  ept_npt          no EPT/NPT module parameter for kvm_pvm; without SVM or VMX for guests there is no NPT or EPT for them either
  fail         nested_state     KVM_CAP_NESTED_STATE=0: this KVM has no nested virtualization at all
  unavailable  vmx_msrs         AMD CPU: VMX capability MSRs do not apply (see svm_features)
  fail         svm_features     Fn8000_000A EAX=0x0 EBX=0x0 EDX=0x0, and no SVM bit: KVM offers no SVM to guests
  unavailable  host_virt        the host CPU shows neither svm nor vmx in /proc/cpuinfo
  warn         timing           CPL 0 1000 ns, CPL 3 0.24 ns per dec/jnz iteration: ring 0 is emulated in software, 4167x slower than CPL 3 (where KVM runs guest code directly, both take about as long); a guest kernel crawls here
  warn         host_is_guest    yes (CPUID hypervisor bit set): gonest's guest is a third level here, and nesting needs the outer hypervisor to pass SVM through
`
	assert.Equal(t, want, b.String())
}

// A /dev/kvm the user may not open gets the fix a CI runner needs: the
// kvm group, the udev rule, or a chmod.
func TestDeviceCheckSaysHowToOpenKVM(t *testing.T) {
	for _, errno := range []unix.Errno{unix.EACCES, unix.EPERM} {
		f, _ := amdNestedHost()
		r := Examine(host(f, nil, &kvm.OpenError{Msg: "/dev/kvm is not accessible to this user", Err: errno}))
		require.NotEmpty(t, r.Checks)
		dev := r.Checks[0]
		assert.Equal(t, CheckDevice, dev.Name)
		assert.Equal(t, StatusFail, dev.Status)
		for _, want := range []string{"not readable and writable by this user", "usermod -aG kvm", "99-kvm4all.rules", "sudo chmod 666 /dev/kvm"} {
			assert.Contains(t, dev.Evidence, want)
		}
		assert.Contains(t, r.Verdict, KVMAccessFix)
	}
}

func TestExamineHostVirt(t *testing.T) {
	f, k := intelNestedHost(true)
	r := Examine(host(f, k, nil))
	c, _ := r.Check(CheckHostVirt)
	assert.Equal(t, Check{Name: CheckHostVirt, Status: StatusOK,
		Evidence: "the host CPU's own VMX (/proc/cpuinfo \"vmx flags\", from its VMX capability MSRs): vnmi preemption_timer invvpid ept_x_only ept_ad ept_1gb flexpriority tsc_offset vtpr mtf vapic ept vpid unrestricted_guest vapic_reg vid shadow_vmcs pml"}, c)
	assert.Contains(t, r.HostVirtFlags, "shadow_vmcs")

	f, k = amdNestedHost()
	r = Examine(host(f, k, nil))
	c, _ = r.Check(CheckHostVirt)
	assert.Equal(t, Check{Name: CheckHostVirt, Status: StatusOK,
		Evidence: "the host CPU's own SVM (/proc/cpuinfo flags, from CPUID Fn8000_000A): npt nrip_save"}, c)

	f, k = intelNestedHost(true)
	f["proc/cpuinfo"] = &fstest.MapFile{Data: []byte("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vmx\n")}
	r = Examine(host(f, k, nil))
	c, _ = r.Check(CheckHostVirt)
	assert.Equal(t, StatusUnavailable, c.Status)
	assert.Contains(t, c.Evidence, "needs Linux 5.8")
}
