package kvm

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Nested state formats (kvm_nested_state.format).
const (
	NestedFormatVMX = 0 // KVM_STATE_NESTED_FORMAT_VMX
	NestedFormatSVM = 1 // KVM_STATE_NESTED_FORMAT_SVM
)

// Nested state flags (kvm_nested_state.flags).
const (
	NestedGuestMode  = 0x001 // KVM_STATE_NESTED_GUEST_MODE: L2 is running
	NestedRunPending = 0x002 // KVM_STATE_NESTED_RUN_PENDING: a VMLAUNCH/VMRUN is half done
	NestedEVMCS      = 0x004 // KVM_STATE_NESTED_EVMCS: Hyper-V enlightened VMCS in use
	NestedMTFPending = 0x008 // KVM_STATE_NESTED_MTF_PENDING
	NestedGIFSet     = 0x100 // KVM_STATE_NESTED_GIF_SET (SVM global interrupt flag)
)

// VMX nested SMM flags (kvm_vmx_nested_state_hdr.smm.flags).
const (
	NestedSMMGuestMode = 0x1 // KVM_STATE_NESTED_SMM_GUEST_MODE
	NestedSMMVMXON     = 0x2 // KVM_STATE_NESTED_SMM_VMXON
)

// NestedVMXPreemptionTimerDeadline (KVM_STATE_VMX_PREEMPTION_TIMER_DEADLINE)
// says VMXNestedHeader.PreemptionTimerDeadline is valid.
const NestedVMXPreemptionTimerDeadline = 0x1

// nestedStateHeader mirrors the fixed 128-byte head of struct
// kvm_nested_state (flags, format, size and the header union).
type nestedStateHeader struct {
	Flags  uint16
	Format uint16
	Size   uint32
	Hdr    [120]byte // union { vmx; svm; pad[120] }
}

// VMXNestedHeader mirrors struct kvm_vmx_nested_state_hdr.
type VMXNestedHeader struct {
	VMXONPA                 uint64 // guest physical address of the VMXON region, or -1ull
	VMCS12PA                uint64 // current VMCS12, or -1ull
	SMMFlags                uint16 // smm.flags: NestedSMM*
	_                       uint16
	Flags                   uint32 // NestedVMXPreemptionTimerDeadline
	PreemptionTimerDeadline uint64
}

// SVMNestedHeader mirrors struct kvm_svm_nested_state_hdr.
type SVMNestedHeader struct {
	VMCBPA uint64 // L1's VMCB12 address
}

// NestedState is a parsed struct kvm_nested_state.
type NestedState struct {
	Flags  uint16
	Format uint16
	// Size is the total size KVM reports, header included.
	Size uint32
	// VMX is set for NestedFormatVMX, SVM for NestedFormatSVM.
	VMX *VMXNestedHeader
	SVM *SVMNestedHeader
	// Data is the format-specific blob after the 128-byte header (vmcs12 or
	// vmcb12 save area), Size-128 bytes.
	Data []byte
}

// GuestMode reports whether an L2 guest was running.
func (n *NestedState) GuestMode() bool { return n.Flags&NestedGuestMode != 0 }

// RunPending reports whether a nested VM entry was in progress.
func (n *NestedState) RunPending() bool { return n.Flags&NestedRunPending != 0 }

// ParseNestedState decodes a struct kvm_nested_state from b. It rejects a
// size field larger than b or smaller than the header.
func ParseNestedState(b []byte) (*NestedState, error) {
	var h nestedStateHeader
	if len(b) < int(sizeofNestedStateHeader) {
		return nil, fmt.Errorf("kvm_nested_state: %d bytes, want at least %d", len(b), sizeofNestedStateHeader)
	}
	if _, err := binary.Decode(b, le, &h); err != nil {
		return nil, fmt.Errorf("kvm_nested_state: %w", err)
	}
	if h.Size < uint32(sizeofNestedStateHeader) || uint64(h.Size) > uint64(len(b)) {
		return nil, fmt.Errorf("kvm_nested_state: size %d outside [%d, %d]", h.Size, sizeofNestedStateHeader, len(b))
	}
	n := &NestedState{Flags: h.Flags, Format: h.Format, Size: h.Size}
	switch h.Format {
	case NestedFormatVMX:
		n.VMX = new(VMXNestedHeader)
		if _, err := binary.Decode(h.Hdr[:], le, n.VMX); err != nil {
			return nil, fmt.Errorf("kvm_vmx_nested_state_hdr: %w", err)
		}
	case NestedFormatSVM:
		n.SVM = new(SVMNestedHeader)
		if _, err := binary.Decode(h.Hdr[:], le, n.SVM); err != nil {
			return nil, fmt.Errorf("kvm_svm_nested_state_hdr: %w", err)
		}
	default:
		return nil, fmt.Errorf("kvm_nested_state: unknown format %d", h.Format)
	}
	n.Data = append([]byte(nil), b[sizeofNestedStateHeader:h.Size]...)
	return n, nil
}

// ErrNoNestedState is returned by GetNestedState when the host does not
// support KVM_CAP_NESTED_STATE (no nested virtualization).
var ErrNoNestedState = errors.New("host KVM has no nested state (KVM_CAP_NESTED_STATE is 0): nested virtualization needs kvm_amd or kvm_intel with nested=1")

// GetNestedState issues KVM_GET_NESTED_STATE with a buffer of maxSize bytes,
// the value of KVM_CHECK_EXTENSION(KVM_CAP_NESTED_STATE), and parses the
// result. maxSize 0 returns ErrNoNestedState.
func (v *VCPU) GetNestedState(maxSize int) (*NestedState, error) {
	if maxSize == 0 {
		return nil, ErrNoNestedState
	}
	if maxSize < int(sizeofNestedStateHeader) || maxSize > 1<<20 {
		return nil, fmt.Errorf("KVM_GET_NESTED_STATE: buffer size %d out of range", maxSize)
	}
	buf := make([]byte, maxSize)
	le.PutUint32(buf[4:], uint32(maxSize)) // size: room the kernel may fill
	if _, err := ioctlBuf(v.fd, reqGetNestedState, buf); err != nil {
		return nil, fmt.Errorf("KVM_GET_NESTED_STATE: %w", err)
	}
	n, err := ParseNestedState(buf)
	if err != nil {
		return nil, fmt.Errorf("KVM_GET_NESTED_STATE: %w", err)
	}
	return n, nil
}

// VMCS12Revision is the revision identifier KVM's nested VMX reports in
// IA32_VMX_BASIC and expects at the start of every VMXON and VMCS region
// L1 uses (VMCS12_REVISION, arch/x86/kvm/vmx/vmcs12.h).
const VMCS12Revision = 0x11e57ed0

// VMCS12Size is the size of the vmcs12 (and shadow vmcs12) area after the
// nested state header (KVM_STATE_NESTED_VMX_VMCS_SIZE).
const VMCS12Size = 0x1000

// VMCS12 holds the fields of KVM's vmcs12 that say what L1 asked for and
// where L2 stopped. KVM keeps L1's VMCS, which L1 reads and writes only
// through VMREAD and VMWRITE, as a packed struct vmcs12 whose field offsets
// are fixed for save and restore (arch/x86/kvm/vmx/vmcs12.h, struct vmcs12
// and vmx_check_vmcs12_offsets); the offsets below are those.
type VMCS12 struct {
	Revision    uint32 // hdr.revision_id: VMCS12Revision for a region L1 set up
	Abort       uint32 // VMX-abort indicator
	LaunchState uint32 // 1 after VMLAUNCH, 0 after VMCLEAR

	EPTPointer           uint64 // L1's EPT for L2 (EPTP), 0 without EPT
	VMCSLinkPointer      uint64 // the shadow VMCS, or all ones
	GuestPhysicalAddress uint64 // the faulting L2 physical address of an EPT exit

	ExitQualification uint64
	GuestCR0          uint64
	GuestCR3          uint64
	GuestCR4          uint64
	GuestRSP          uint64
	GuestRIP          uint64
	GuestRFLAGS       uint64
	HostCR3           uint64
	HostRSP           uint64
	HostRIP           uint64 // where L1 resumes after an L2 exit

	PinBased         uint32 // pin-based VM-execution controls
	ProcBased        uint32 // primary processor-based VM-execution controls
	ExitControls     uint32
	EntryControls    uint32
	ProcBased2       uint32 // secondary processor-based VM-execution controls
	InstructionError uint32 // VM-instruction error of L1's last failed VMX instruction
	ExitReason       uint32 // why L2 last exited to L1
	ExitInstrLen     uint32 // length of the instruction that exited

	VPID            uint16 // L2's virtual-processor identifier
	GuestCSSelector uint16
}

// vmcs12Offsets are struct vmcs12's field offsets (CHECK_OFFSET in
// arch/x86/kvm/vmx/vmcs12.h).
const (
	vmcs12Abort             = 4
	vmcs12LaunchState       = 8
	vmcs12EPTPointer        = 120
	vmcs12GuestPhysAddr     = 168
	vmcs12VMCSLinkPointer   = 176
	vmcs12ExitQualification = 408
	vmcs12GuestCR0          = 424
	vmcs12GuestCR3          = 432
	vmcs12GuestCR4          = 440
	vmcs12GuestRSP          = 536
	vmcs12GuestRIP          = 544
	vmcs12GuestRFLAGS       = 552
	vmcs12HostCR3           = 592
	vmcs12HostRSP           = 664
	vmcs12HostRIP           = 672
	vmcs12PinBased          = 744
	vmcs12ProcBased         = 748
	vmcs12ExitControls      = 768
	vmcs12EntryControls     = 780
	vmcs12ProcBased2        = 804
	vmcs12InstructionError  = 808
	vmcs12ExitReason        = 812
	vmcs12ExitInstrLen      = 832
	vmcs12VPID              = 960
	vmcs12GuestCSSelector   = 966
	vmcs12Used              = 998 // end of guest_pml_index, the last field
)

// ParseVMCS12 decodes the fields of VMCS12 from a vmcs12 area; it needs
// at least the bytes struct vmcs12 uses.
func ParseVMCS12(b []byte) (*VMCS12, error) {
	if len(b) < vmcs12Used {
		return nil, fmt.Errorf("vmcs12: %d bytes, want at least %d", len(b), vmcs12Used)
	}
	u16 := func(off int) uint16 { return le.Uint16(b[off:]) }
	u32 := func(off int) uint32 { return le.Uint32(b[off:]) }
	u64 := func(off int) uint64 { return le.Uint64(b[off:]) }
	return &VMCS12{
		Revision: u32(0), Abort: u32(vmcs12Abort), LaunchState: u32(vmcs12LaunchState),
		EPTPointer: u64(vmcs12EPTPointer), VMCSLinkPointer: u64(vmcs12VMCSLinkPointer),
		GuestPhysicalAddress: u64(vmcs12GuestPhysAddr), ExitQualification: u64(vmcs12ExitQualification),
		GuestCR0: u64(vmcs12GuestCR0), GuestCR3: u64(vmcs12GuestCR3), GuestCR4: u64(vmcs12GuestCR4),
		GuestRSP: u64(vmcs12GuestRSP), GuestRIP: u64(vmcs12GuestRIP), GuestRFLAGS: u64(vmcs12GuestRFLAGS),
		HostCR3: u64(vmcs12HostCR3), HostRSP: u64(vmcs12HostRSP), HostRIP: u64(vmcs12HostRIP),
		PinBased: u32(vmcs12PinBased), ProcBased: u32(vmcs12ProcBased), ExitControls: u32(vmcs12ExitControls),
		EntryControls: u32(vmcs12EntryControls), ProcBased2: u32(vmcs12ProcBased2),
		InstructionError: u32(vmcs12InstructionError), ExitReason: u32(vmcs12ExitReason),
		ExitInstrLen: u32(vmcs12ExitInstrLen), VPID: u16(vmcs12VPID), GuestCSSelector: u16(vmcs12GuestCSSelector),
	}, nil
}

// VMCS12 decodes the vmcs12 that follows a VMX header, or returns nil:
// KVM includes it when L1 has a current VMCS or is running L2
// (vmx_get_nested_state in arch/x86/kvm/vmx/nested.c).
func (n *NestedState) VMCS12() *VMCS12 { return n.vmcs12At(0) }

// ShadowVMCS12 decodes the shadow vmcs12, or returns nil: KVM adds it
// while L2 runs with VMCS shadowing on and a VMCS link pointer set, the
// VMCS that L2's own VMREAD and VMWRITE reach.
func (n *NestedState) ShadowVMCS12() *VMCS12 { return n.vmcs12At(1) }

func (n *NestedState) vmcs12At(i int) *VMCS12 {
	if n.VMX == nil || len(n.Data) < (i+1)*VMCS12Size {
		return nil
	}
	v, err := ParseVMCS12(n.Data[i*VMCS12Size : (i+1)*VMCS12Size])
	if err != nil { // a full area always parses
		return nil
	}
	return v
}
