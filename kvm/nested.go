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
	// NestedGIFSet (KVM_STATE_NESTED_GIF_SET) is the vCPU's SVM global
	// interrupt flag (gif_set in svm_get_nested_state). VMRUN sets GIF and
	// #VMEXIT clears it (AMD APM vol. 2, 15.17); G1's KVM executes CLGI
	// before its VMRUN and STGI after the #VMEXIT, so GIF is clear only in
	// that short window, and flags=0x100 is a G1 at rest outside guest mode.
	NestedGIFSet = 0x100
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
	VMCBPA uint64 // vmcb12's guest physical address in G1, in guest mode; 0 otherwise
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
	// Data is the format-specific blob after the 128-byte header,
	// Size-128 bytes. SVM: in guest mode only, a struct vmcb holding
	// vmcb12's control area and G1's own save area (SVMData). VMX: vmcs12
	// whenever G1 has a current VMCS, then the shadow vmcs12 (VMXData).
	Data []byte
	// Raw is the whole state as KVM returned it, header included (Size
	// bytes): what KVM_SET_NESTED_STATE takes back, and what a test keeps.
	Raw []byte
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
	n.Raw = append([]byte(nil), b[:h.Size]...)
	n.Data = n.Raw[sizeofNestedStateHeader:]
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
