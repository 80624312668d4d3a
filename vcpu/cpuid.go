package vcpu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"github.com/gonest/gonest/kvm"
)

// Nested says whether the guest sees the host's virtualization extension.
type Nested int

const (
	// NestedAuto passes VMX or SVM through when the host's KVM offers it.
	NestedAuto Nested = iota
	// NestedOn requires VMX or SVM; building the CPUID fails without it.
	NestedOn
	// NestedOff hides VMX and SVM from the guest.
	NestedOff
)

// ParseNested parses the -nested flag's value.
func ParseNested(s string) (Nested, error) {
	switch s {
	case "auto", "":
		return NestedAuto, nil
	case "on":
		return NestedOn, nil
	case "off":
		return NestedOff, nil
	}
	return 0, fmt.Errorf("-nested %q: want auto, on or off", s)
}

func (n Nested) String() string {
	switch n {
	case NestedOn:
		return "on"
	case NestedOff:
		return "off"
	}
	return "auto"
}

// Vendor is the CPU vendor as CPUID leaf 0 names it.
type Vendor int

const (
	VendorOther Vendor = iota
	VendorIntel        // "GenuineIntel"
	VendorAMD          // "AuthenticAMD" (or Hygon's "HygonGenuine")
)

func (v Vendor) String() string {
	switch v {
	case VendorIntel:
		return "Intel"
	case VendorAMD:
		return "AMD"
	}
	return "other"
}

// CPUID leaves and bits the policy touches.
const (
	leafVendor      = 0x0        // max basic leaf, vendor string
	leafFeatures    = 0x1        // family/model, APIC ID, feature flags
	leafCacheParams = 0x4        // deterministic cache parameters (Intel)
	leafTopology    = 0xb        // extended topology (x2APIC IDs)
	leafTopologyV2  = 0x1f       // V2 extended topology
	leafExtMax      = 0x80000000 // max extended leaf
	leafExtFeatures = 0x80000001 // extended feature flags
	leafAddrSizes   = 0x80000008 // address sizes, core count (AMD)
	leafSVM         = 0x8000000a // SVM revision and features
	leafAMDTopology = 0x8000001e // extended APIC ID, core and node IDs (AMD)

	feat1ECXVMX         = 1 << 5  // leaf 1 ECX: VMX
	feat1ECXTSCDeadline = 1 << 24 // leaf 1 ECX: LAPIC timer TSC-deadline mode
	feat1ECXHypervisor  = 1 << 31 // leaf 1 ECX: running under a hypervisor
	feat1EDXHTT         = 1 << 28 // leaf 1 EDX: EBX[23:16] holds a logical processor count
	ext1ECXCmpLegacy    = 1 << 1  // 0x80000001 ECX: core multi-processing legacy mode
	ext1ECXSVM          = 1 << 2  // 0x80000001 ECX: SVM
	ext1ECXTopoExt      = 1 << 22 // 0x80000001 ECX: topology extensions (leaf 0x8000001e)

	topoLevelSMT  = 1 // leaf 0xb ECX[15:8] level type: SMT
	topoLevelCore = 2 // leaf 0xb ECX[15:8] level type: core
)

// HostVendor reads the vendor from a CPUID table's leaf 0.
func HostVendor(entries []kvm.CPUIDEntry2) Vendor {
	e := find(entries, leafVendor, 0)
	if e == nil {
		return VendorOther
	}
	var b [12]byte
	binary.LittleEndian.PutUint32(b[0:], e.EBX)
	binary.LittleEndian.PutUint32(b[4:], e.EDX)
	binary.LittleEndian.PutUint32(b[8:], e.ECX)
	switch string(b[:]) {
	case "GenuineIntel":
		return VendorIntel
	case "AuthenticAMD", "HygonGenuine":
		return VendorAMD
	}
	return VendorOther
}

// HasVMX reports whether a CPUID table offers VMX.
func HasVMX(entries []kvm.CPUIDEntry2) bool {
	e := find(entries, leafFeatures, 0)
	return e != nil && e.ECX&feat1ECXVMX != 0
}

// HasSVM reports whether a CPUID table offers SVM.
func HasSVM(entries []kvm.CPUIDEntry2) bool {
	e := find(entries, leafExtFeatures, 0)
	return e != nil && e.ECX&ext1ECXSVM != 0
}

// ErrNoNestedSupport is wrapped by BuildCPUID when -nested on meets a host
// whose KVM offers neither VMX nor SVM.
var ErrNoNestedSupport = errors.New("host KVM offers no VMX or SVM")

// CPUIDPolicy turns the host's supported CPUID into each vCPU's table.
type CPUIDPolicy struct {
	// Supported is KVM_GET_SUPPORTED_CPUID's result.
	Supported []kvm.CPUIDEntry2
	// CPUs is the number of vCPUs: one socket, one thread per core.
	CPUs int
	// Nested decides VMX/SVM exposure.
	Nested Nested
	// Backend names the host's KVM module, for the -nested on error.
	Backend string
	// TSCDeadline advertises the LAPIC timer's TSC-deadline mode, which the
	// in-kernel LAPIC emulates when KVM_CAP_TSC_DEADLINE_TIMER is present.
	// KVM_GET_SUPPORTED_CPUID does not report it, so the VMM must. With
	// hardware-reduced ACPI there is no PIT for Linux to calibrate the
	// LAPIC timer against, which makes this mode the one Linux relies on.
	TSCDeadline bool
}

// NestedExposed reports what the guest will see: "VMX", "SVM" or "" (none).
func (p CPUIDPolicy) NestedExposed() string {
	if p.Nested == NestedOff {
		return ""
	}
	switch {
	case HasVMX(p.Supported):
		return "VMX"
	case HasSVM(p.Supported):
		return "SVM"
	}
	return ""
}

// Check validates the policy without building a table: -nested on needs the
// host's supported CPUID to offer VMX or SVM.
func (p CPUIDPolicy) Check() error {
	if p.CPUs < 1 || p.CPUs > 255 {
		return fmt.Errorf("cpuid: %d vCPUs out of range 1..255", p.CPUs)
	}
	if p.Nested == NestedOn && p.NestedExposed() == "" {
		want := "VMX (CPUID.1:ECX[5]) or SVM (CPUID.80000001h:ECX[2])"
		switch HostVendor(p.Supported) {
		case VendorIntel:
			want = "VMX (CPUID.1:ECX[5])"
		case VendorAMD:
			want = "SVM (CPUID.80000001h:ECX[2])"
		}
		backend := p.Backend
		if backend == "" {
			backend = "unknown"
		}
		return fmt.Errorf("-nested on: %w: the supported CPUID lacks %s (%s backend); use -nested off or run in the lab",
			ErrNoNestedSupport, want, backend)
	}
	return nil
}

// For returns the CPUID table of vCPU id (its APIC ID is id).
func (p CPUIDPolicy) For(id int) ([]kvm.CPUIDEntry2, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	if id < 0 || id >= p.CPUs {
		return nil, fmt.Errorf("cpuid: vcpu %d out of range 0..%d", id, p.CPUs-1)
	}
	vendor := HostVendor(p.Supported)
	apicID := uint32(id)
	// Bits needed to number the cores of the socket.
	coreBits := uint32(bits.Len32(uint32(p.CPUs - 1)))
	out := make([]kvm.CPUIDEntry2, 0, len(p.Supported))
	for _, e := range p.Supported {
		switch e.Function {
		case leafFeatures:
			e.EBX = e.EBX&0x0000ffff | uint32(p.CPUs)<<16 | apicID<<24
			e.ECX |= feat1ECXHypervisor
			if p.TSCDeadline {
				e.ECX |= feat1ECXTSCDeadline
			}
			if p.CPUs > 1 {
				e.EDX |= feat1EDXHTT
			}
			if p.Nested == NestedOff {
				e.ECX &^= feat1ECXVMX
			}
		case leafCacheParams:
			if vendor == VendorIntel {
				// EAX[31:26]: cores per package - 1; EAX[25:14]: threads
				// sharing this cache - 1 (private caches: 0, shared: all).
				e.EAX &= 0x3ff
				e.EAX |= uint32(p.CPUs-1) << 26
				if (e.EAX>>5)&7 >= 3 {
					e.EAX |= uint32(p.CPUs-1) << 14
				}
			}
		case leafTopology, leafTopologyV2:
			e.EDX = apicID
			switch e.Index {
			case 0:
				e.EAX, e.EBX, e.ECX = 0, 1, topoLevelSMT<<8
			case 1:
				e.EAX, e.EBX, e.ECX = coreBits, uint32(p.CPUs), topoLevelCore<<8|1
			default:
				e.EAX, e.EBX, e.ECX = 0, 0, e.Index&0xff
			}
		case leafExtFeatures:
			if p.Nested == NestedOff {
				e.ECX &^= ext1ECXSVM
			}
			if vendor == VendorAMD && p.CPUs > 1 {
				e.ECX |= ext1ECXCmpLegacy
			}
		case leafAddrSizes:
			if vendor == VendorAMD {
				// ECX[7:0]: cores - 1; ECX[15:12]: APIC ID bits for cores.
				e.ECX = e.ECX&^0xf0ff | uint32(p.CPUs-1) | coreBits<<12
			}
		case leafSVM:
			if p.Nested == NestedOff {
				e.EAX, e.EBX, e.ECX, e.EDX = 0, 0, 0, 0
			}
		case leafAMDTopology:
			// EAX: extended APIC ID; EBX[15:8]: threads per core - 1 (0);
			// EBX[7:0]: core ID; ECX[7:0]: node ID (0).
			e.EAX = apicID
			e.EBX = apicID & 0xff
			e.ECX = 0
		}
		out = append(out, e)
	}
	return out, nil
}

func find(entries []kvm.CPUIDEntry2, fn, index uint32) *kvm.CPUIDEntry2 {
	for i := range entries {
		e := &entries[i]
		if e.Function != fn {
			continue
		}
		if e.Flags&kvm.CPUIDFlagSignificantIndex != 0 && e.Index != index {
			continue
		}
		return e
	}
	return nil
}

// Lookup returns the entry for (fn, index), or nil.
func Lookup(entries []kvm.CPUIDEntry2, fn, index uint32) *kvm.CPUIDEntry2 {
	return find(entries, fn, index)
}
