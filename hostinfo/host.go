package hostinfo

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// Root is the real host's file system.
func Root() fs.FS { return os.DirFS("/") }

// Backend names the kernel module behind /dev/kvm.
type Backend string

// Backends.
const (
	BackendIntel Backend = "kvm_intel" // hardware VMX
	BackendAMD   Backend = "kvm_amd"   // hardware SVM
	BackendPVM   Backend = "kvm_pvm"   // PVM: software virtualization inside a guest, no nesting
	BackendOther Backend = "other"     // kvm is loaded, the vendor module is unknown
	BackendNone  Backend = "none"      // no kvm module at all
)

// DetectBackend looks at /sys/module for the loaded KVM vendor module.
func DetectBackend(fsys fs.FS) Backend {
	for _, b := range []Backend{BackendIntel, BackendAMD, BackendPVM} {
		if exists(fsys, "sys/module/"+string(b)) {
			return b
		}
	}
	if exists(fsys, "sys/module/kvm") {
		return BackendOther
	}
	return BackendNone
}

// Nested returns the vendor module's nested parameter ("Y", "1", "N", "0")
// and whether it could be read.
func Nested(fsys fs.FS, b Backend) (string, bool) {
	return param(fsys, b, "nested")
}

// TwoDimensionalPaging returns EPT (Intel) or NPT (AMD) as the module's
// parameter says, with the parameter's name.
func TwoDimensionalPaging(fsys fs.FS, b Backend) (name, value string, ok bool) {
	switch b {
	case BackendIntel:
		name = "ept"
	case BackendAMD:
		name = "npt"
	default:
		return "", "", false
	}
	value, ok = param(fsys, b, name)
	return name, value, ok
}

// Enabled interprets a module parameter: "Y", "y" and positive numbers are on.
func Enabled(v string) bool {
	v = strings.TrimSpace(v)
	if v == "Y" || v == "y" {
		return true
	}
	n, err := strconv.Atoi(v)
	return err == nil && n > 0
}

func param(fsys fs.FS, b Backend, name string) (string, bool) {
	data, err := fs.ReadFile(fsys, "sys/module/"+string(b)+"/parameters/"+name)
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(data)), true
}

func exists(fsys fs.FS, name string) bool {
	_, err := fs.Stat(fsys, name)
	return err == nil
}

// MemTotal returns the host's RAM from /proc/meminfo.
func MemTotal(fsys fs.FS) (uint64, error) {
	data, err := fs.ReadFile(fsys, "proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("read /proc/meminfo: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/meminfo: bad MemTotal %q", f[1])
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("/proc/meminfo has no MemTotal")
}

// CPUModel returns the first "model name" of /proc/cpuinfo.
func CPUModel(fsys fs.FS) string {
	v, _ := cpuinfoField(fsys, "model name")
	return v
}

// Guest says whether the host is itself a virtual machine, with the
// evidence: the CPU's hypervisor flag (CPUID.1:ECX[31], shown in
// /proc/cpuinfo) and, when present, /sys/hypervisor/type or the DMI vendor.
func Guest(fsys fs.FS) (bool, string) {
	var ev []string
	guest := false
	if flags, ok := cpuinfoField(fsys, "flags"); ok {
		if hasWord(flags, "hypervisor") {
			guest = true
			ev = append(ev, "CPUID hypervisor bit set")
		} else {
			ev = append(ev, "CPUID hypervisor bit clear")
		}
	}
	if t, err := fs.ReadFile(fsys, "sys/hypervisor/type"); err == nil && len(bytes.TrimSpace(t)) > 0 {
		guest = true
		ev = append(ev, "/sys/hypervisor/type="+strings.TrimSpace(string(t)))
	}
	// An empty vendor (Bochs's BIOS leaves it so) says nothing.
	if v, err := fs.ReadFile(fsys, "sys/class/dmi/id/sys_vendor"); err == nil && len(bytes.TrimSpace(v)) > 0 {
		ev = append(ev, "DMI vendor "+strings.TrimSpace(string(v)))
	}
	if len(ev) == 0 {
		return false, "unavailable (no /proc/cpuinfo)"
	}
	return guest, strings.Join(ev, "; ")
}

// CPUFlag reports whether /proc/cpuinfo lists flag (such as "svm" or "vmx").
func CPUFlag(fsys fs.FS, flag string) bool {
	flags, ok := cpuinfoField(fsys, "flags")
	return ok && hasWord(flags, flag)
}

func cpuinfoField(fsys fs.FS, key string) (string, bool) {
	data, err := fs.ReadFile(fsys, "proc/cpuinfo")
	if err != nil {
		return "", false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

// svmFeatureFlags are the /proc/cpuinfo flags Linux derives from CPUID
// Fn8000_000A, the CPU's SVM features (arch/x86/include/asm/cpufeatures.h,
// word 15).
var svmFeatureFlags = map[string]bool{
	"npt": true, "lbrv": true, "svm_lock": true, "nrip_save": true, "tsc_scale": true, "vmcb_clean": true,
	"flushbyasid": true, "decodeassists": true, "pausefilter": true, "pfthreshold": true, "avic": true,
	"v_vmsave_vmload": true, "vgif": true, "x2avic": true, "v_spec_ctrl": true, "vnmi": true,
}

// VirtFlags returns the virtualization features of this machine's own CPU
// as Linux lists them in /proc/cpuinfo: "VMX" and the "vmx flags" line,
// which Linux 5.8 and later fills from the VMX capability MSRs
// (arch/x86/kernel/cpu/feat_ctl.c, init_vmx_capabilities), or "SVM" and
// the SVM feature flags among "flags". kind is "" when the CPU shows
// neither svm nor vmx; flags is nil when it shows vmx but this kernel
// lists no VMX features.
func VirtFlags(fsys fs.FS) (kind string, flags []string) {
	all, _ := cpuinfoField(fsys, "flags")
	switch {
	case hasWord(all, "vmx"):
		vmx, ok := cpuinfoField(fsys, "vmx flags")
		if !ok {
			return "VMX", nil
		}
		return "VMX", strings.Fields(vmx)
	case hasWord(all, "svm"):
		var svm []string
		for _, f := range strings.Fields(all) {
			if svmFeatureFlags[f] {
				svm = append(svm, f)
			}
		}
		return "SVM", svm
	}
	return "", nil
}
