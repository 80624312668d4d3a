package doctor

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"syscall"
	"testing/fstest"
	"time"

	"github.com/gonest/gonest/kvm"
)

// fakeKVM describes a host's /dev/kvm for the doctor's checks.
type fakeKVM struct {
	api         int
	apiErr      error
	caps        map[kvm.Cap]int
	capErr      error
	cpuid       []kvm.CPUIDEntry2
	cpuidErr    error
	featureList []uint32
	featureErr  error
	msrs        map[uint32]uint64
	msrErr      error
	nsPerIter   map[int]float64 // by CPL; a missing CPL fails LoopTime
	loopErr     error
	closeErr    error

	loopWait   time.Duration // added to every LoopFor's wall time
	noCPUTime  bool          // LoopFor reports no CPU time
	stallCalls int           // this many first LoopFor calls run no iteration
	loopCalls  []loopCall
	closed     bool
}

type loopCall struct {
	cpl    int
	window time.Duration
}

var errFakeNoLoop = errors.New("fake: no timing for this CPL")

func (f *fakeKVM) GetAPIVersion() (int, error) { return f.api, f.apiErr }

func (f *fakeKVM) CheckExtension(c kvm.Cap) (int, error) {
	if f.capErr != nil {
		return 0, f.capErr
	}
	return f.caps[c], nil
}

func (f *fakeKVM) GetSupportedCPUID() ([]kvm.CPUIDEntry2, error) { return f.cpuid, f.cpuidErr }

func (f *fakeKVM) GetMSRFeatureIndexList() ([]uint32, error) { return f.featureList, f.featureErr }

// GetMSRs reads like the kernel: it stops at the first MSR it does not know.
func (f *fakeKVM) GetMSRs(entries []kvm.MSREntry) (int, error) {
	if f.msrErr != nil {
		return 0, f.msrErr
	}
	for i := range entries {
		v, ok := f.msrs[entries[i].Index]
		if !ok {
			return i, nil
		}
		entries[i].Data = v
	}
	return len(entries), nil
}

// LoopFor pretends the guest ran for window (CPU time) plus loopWait
// (waiting for a CPU, wall time only) at the CPL's speed.
func (f *fakeKVM) LoopFor(cpl int, window time.Duration) (LoopRun, error) {
	if f.loopErr != nil {
		return LoopRun{}, f.loopErr
	}
	ns, ok := f.nsPerIter[cpl]
	if !ok {
		return LoopRun{}, errFakeNoLoop
	}
	f.loopCalls = append(f.loopCalls, loopCall{cpl, window})
	if f.stallCalls > 0 {
		// The first entries fault pages in and run no iteration.
		f.stallCalls--
		return LoopRun{CPU: window, Wall: window}, nil
	}
	cpu := window
	if f.noCPUTime {
		cpu = 0
	}
	return LoopRun{Iterations: uint64(float64(window.Nanoseconds()) / ns), CPU: cpu, Wall: window + f.loopWait}, nil
}

func (f *fakeKVM) Close() error {
	f.closed = true
	return f.closeErr
}

// host is a fake host: its files and its KVM (nil with openErr).
func host(files fstest.MapFS, k *fakeKVM, openErr error) Host {
	return Host{
		FS: files,
		OpenKVM: func() (KVM, error) {
			if openErr != nil {
				return nil, openErr
			}
			return k, nil
		},
	}
}

// CPUID bits the fixtures set.
const (
	leaf1ECXVMX        = 1 << 5  // CPUID.1:ECX VMX
	leaf1ECXHypervisor = 1 << 31 // CPUID.1:ECX hypervisor present
	ext1ECXSVM         = 1 << 2  // CPUID.80000001h:ECX SVM
)

// SVM feature bits (CPUID Fn8000_000A EDX).
const (
	svmNPT           = 1 << 0
	svmLbrVirt       = 1 << 1
	svmNRIPS         = 1 << 3
	svmTscRateMsr    = 1 << 4
	svmVmcbClean     = 1 << 5
	svmFlushByAsid   = 1 << 6
	svmDecodeAssists = 1 << 7
	svmPauseFilter   = 1 << 10
	svmPFThreshold   = 1 << 12
	svmVGIF          = 1 << 16
)

// vendorLeaf is CPUID leaf 0 for a 12-byte vendor string.
func vendorLeaf(vendor string) kvm.CPUIDEntry2 {
	b := []byte(vendor)
	return kvm.CPUIDEntry2{
		Function: 0, EAX: 0x10,
		EBX: binary.LittleEndian.Uint32(b[0:]),
		EDX: binary.LittleEndian.Uint32(b[4:]),
		ECX: binary.LittleEndian.Uint32(b[8:]),
	}
}

// amdCPUID is a supported CPUID table for an AMD host; svm adds SVM and the
// given Fn8000_000A EDX (KVM zeroes the leaf when it offers no SVM).
func amdCPUID(svm bool, svmEDX uint32) []kvm.CPUIDEntry2 {
	ext1 := kvm.CPUIDEntry2{Function: 0x80000001}
	leafA := kvm.CPUIDEntry2{Function: 0x8000000a}
	if svm {
		ext1.ECX |= ext1ECXSVM
		leafA.EAX, leafA.EBX, leafA.EDX = 1, 8, svmEDX
	}
	return []kvm.CPUIDEntry2{
		vendorLeaf("AuthenticAMD"),
		{Function: 1, ECX: leaf1ECXHypervisor},
		{Function: 0x80000000, EAX: 0x8000001f},
		ext1,
		leafA,
	}
}

// intelCPUID is a supported CPUID table for an Intel host.
func intelCPUID(vmx bool) []kvm.CPUIDEntry2 {
	leaf1 := kvm.CPUIDEntry2{Function: 1}
	if vmx {
		leaf1.ECX |= leaf1ECXVMX
	}
	return []kvm.CPUIDEntry2{vendorLeaf("GenuineIntel"), leaf1, {Function: 0x80000001}}
}

// allowed1 puts control bits in the allowed-1 half (63:32) of a VMX
// control MSR.
func allowed1(bits ...uint) uint64 {
	var v uint64
	for _, b := range bits {
		v |= 1 << (32 + b)
	}
	return v
}

func bits64(bits ...uint) uint64 {
	var v uint64
	for _, b := range bits {
		v |= 1 << b
	}
	return v
}

// intelVMXMSRs are the VMX capability MSRs of a nested-capable Intel host
// (kvm_intel nested=Y): VMCS revision 4, 4 KiB VMCS, true controls.
func intelVMXMSRs(ept bool) map[uint32]uint64 {
	proc2 := []uint{0, 3, 5, 7, 14} // APIC accesses, RDTSCP, VPID, unrestricted guest, shadow VMCS
	if ept {
		proc2 = append(proc2, 1)
	}
	return map[uint32]uint64{
		MSRVMXBasic:         4 | 0x1000<<32 | 1<<55,
		MSRVMXPinbasedCtls:  allowed1(0, 3),
		MSRVMXProcbasedCtls: allowed1(7, 31),
		MSRVMXExitCtls:      allowed1(9),
		MSRVMXEntryCtls:     allowed1(9),
		// What KVM reports (nested_vmx_setup_ctls_msrs): SAVE_EFER_LMA, HLT
		// and wait-for-SIPI, VMWRITE to any field, the timer's rate 5.
		MSRVMXMisc:           0x20000165,
		MSRVMXCR0Fixed0:      0x80000021,
		MSRVMXCR0Fixed1:      0xffffffff,
		MSRVMXCR4Fixed0:      0x2000,
		MSRVMXCR4Fixed1:      0x3727ff,
		MSRVMXVMCSEnum:       0x2e,
		MSRVMXProcbasedCtls2: allowed1(proc2...),
		MSRVMXEPTVPIDCap:     bits64(0, 6, 14, 16, 20, 25, 26, 32, 41, 42),
		MSRVMXTruePinbased:   allowed1(0, 3, 5, 6),
		MSRVMXTrueProcbased:  allowed1(2, 3, 7, 21, 25, 28, 31),
		MSRVMXTrueExit:       allowed1(9, 15, 18, 20),
		MSRVMXTrueEntry:      allowed1(9, 14, 15),
		MSRVMXVMFunc:         1,
	}
}

// featureList is the MSR feature list: the non-VMX ones every host has
// (0x8b, 0x10a, 0x345, 0xce, as on this project's kvm_pvm hosts), plus the
// VMX ones in msrs.
func featureList(msrs map[uint32]uint64) []uint32 {
	list := []uint32{0x10a, 0x345, 0x8b, 0xce}
	for idx := uint32(MSRVMXVMFunc); idx >= MSRVMXBasic; idx-- {
		if _, ok := msrs[idx]; ok {
			list = append(list, idx)
		}
	}
	return list
}

// files builds a host file system: /proc/cpuinfo with vendor and flags,
// the modules with their parameters, and a /dev/kvm node.
func files(vendor, flags string, modules map[string]map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{
		"proc/cpuinfo": {Data: []byte("processor\t: 0\nvendor_id\t: " + vendor + "\nmodel name\t: Test CPU\nflags\t\t: " + flags + "\n")},
		"dev/kvm":      {Mode: fs.ModeDevice | fs.ModeCharDevice | 0o660, Sys: &syscall.Stat_t{Uid: 0, Gid: 36}},
		"etc/passwd":   {Data: []byte("root:x:0:0:root:/root:/bin/sh\n")},
		"etc/group":    {Data: []byte("root:x:0:\nkvm:x:36:qemu\n")},
	}
	for mod, params := range modules {
		fsys["sys/module/"+mod] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
		for p, v := range params {
			fsys["sys/module/"+mod+"/parameters/"+p] = &fstest.MapFile{Data: []byte(v + "\n")}
		}
	}
	return fsys
}

// The hosts the tests examine.

// pvmHost is this project's development machine: an AMD EPYC cloud guest
// whose /dev/kvm is kvm_pvm (docs/lab.md, "Why a lab").
func pvmHost() (fstest.MapFS, *fakeKVM) {
	fsys := files("AuthenticAMD", "fpu sse2 hypervisor", map[string]map[string]string{
		"kvm":     {"tdp_mmu": "Y"},
		"kvm_pvm": {"pvm_native": "N"},
	})
	k := &fakeKVM{
		api:         12,
		caps:        map[kvm.Cap]int{kvm.CapGetMSRFeatures: 1},
		cpuid:       amdCPUID(false, 0),
		featureList: featureList(nil),
		msrs:        map[uint32]uint64{0x8b: 0x1000065, 0x10a: 0, 0x345: 0, 0xce: 0},
		nsPerIter:   map[int]float64{0: 1000, 3: 0.24},
	}
	return fsys, k
}

// amdNestedHost is the lab's H: kvm_amd nested=1 inside QEMU TCG.
func amdNestedHost() (fstest.MapFS, *fakeKVM) {
	fsys := files("AuthenticAMD", "fpu svm npt nrip_save hypervisor", map[string]map[string]string{
		"kvm":     {"tdp_mmu": "Y"},
		"kvm_amd": {"nested": "1", "npt": "1"},
	})
	k := &fakeKVM{
		api:         12,
		caps:        map[kvm.Cap]int{kvm.CapGetMSRFeatures: 1, kvm.CapNestedState: 4224},
		cpuid:       amdCPUID(true, svmNPT|svmLbrVirt|svmNRIPS|svmTscRateMsr|svmVmcbClean|svmFlushByAsid|svmDecodeAssists|svmPauseFilter|svmPFThreshold|svmVGIF),
		featureList: featureList(nil),
		msrs:        map[uint32]uint64{0x8b: 0, 0x10a: 0, 0x345: 0, 0xce: 0},
		nsPerIter:   map[int]float64{0: 2, 3: 2},
	}
	return fsys, k
}

// intelNestedHost is bare-metal Intel with kvm_intel nested=Y.
func intelNestedHost(ept bool) (fstest.MapFS, *fakeKVM) {
	eptParam := "Y"
	if !ept {
		eptParam = "N"
	}
	fsys := files("GenuineIntel", "fpu vmx ept vpid", map[string]map[string]string{
		"kvm":       {"tdp_mmu": "Y"},
		"kvm_intel": {"nested": "Y", "ept": eptParam},
	})
	// Linux 5.8 and later list the CPU's VMX features too.
	fsys["proc/cpuinfo"].Data = append(fsys["proc/cpuinfo"].Data, "vmx flags\t: vnmi preemption_timer invvpid ept_x_only ept_ad ept_1gb flexpriority tsc_offset vtpr mtf vapic ept vpid unrestricted_guest vapic_reg vid shadow_vmcs pml\n"...)
	msrs := intelVMXMSRs(ept)
	k := &fakeKVM{
		api:         12,
		caps:        map[kvm.Cap]int{kvm.CapGetMSRFeatures: 1, kvm.CapNestedState: 8320},
		cpuid:       intelCPUID(true),
		featureList: featureList(msrs),
		msrs:        msrs,
		nsPerIter:   map[int]float64{0: 0.3, 3: 0.3},
	}
	return fsys, k
}
