package kvm

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vmxBlob builds a VMX nested state whose data holds n vmcs12 areas.
func vmxBlob(flags uint16, n int) []byte {
	size := uint32(128 + n*VMCS12Size)
	b := nestedBlob(flags, NestedFormatVMX, size, int(size))
	le.PutUint64(b[8:], 0x9000)  // vmxon_pa
	le.PutUint64(b[16:], 0xa000) // vmcs12_pa
	return b
}

func TestVMXData(t *testing.T) {
	b := vmxBlob(NestedGuestMode, 1)
	v := b[128:]
	le.PutUint32(v[0:], VMCS12Revision)
	le.PutUint32(v[8:], 1)                        // launched
	le.PutUint64(v[120:], 0x3000|6|3<<3|1<<6)     // EPTP: WB, 4-level, A/D
	le.PutUint32(v[744:], 1<<0|1<<3)              // external interrupts, NMIs
	le.PutUint32(v[748:], 1<<7|1<<25|1<<28|1<<31) // HLT, I/O bitmaps, MSR bitmaps, secondary
	le.PutUint32(v[752:], 1<<14)                  // #PF
	le.PutUint32(v[804:], 1<<1|1<<5|1<<7)         // EPT, VPID, unrestricted guest
	le.PutUint32(v[812:], 30)                     // IO_INSTRUCTION
	le.PutUint16(v[960:], 1)                      // VPID
	n, err := ParseNestedState(b)
	require.NoError(t, err)
	d, err := n.VMXData()
	require.NoError(t, err)
	require.NotNil(t, d)
	assert.Equal(t, uint32(VMCS12Revision), d.VMCS12.RevisionID)
	assert.True(t, d.VMCS12.Launched())
	assert.Equal(t, uint16(1), d.VMCS12.VPID)
	assert.Equal(t, uint32(30), d.VMCS12.ExitReason)
	assert.Nil(t, d.Shadow, "one vmcs12: no shadow")
	text := strings.Join(d.Describe(), "\n")
	assert.Contains(t, text, "vmcs12 revision 0x11e57ed0, launched")
	assert.Contains(t, text, "vmcs12 processor-based controls 0x92000080: HLT_EXITING USE_IO_BITMAPS USE_MSR_BITMAPS ACTIVATE_SECONDARY_CONTROLS")
	assert.Contains(t, text, "vmcs12 secondary controls 0xa2: ENABLE_EPT ENABLE_VPID UNRESTRICTED_GUEST")
	assert.Contains(t, text, "exception bitmap 0x4000: #PF")
	assert.Contains(t, text, "EPTP 0x305e: root 0x3000, WB, 4-level walk, A/D on")
	assert.Contains(t, text, "last exit G1 saw: basic reason 30 ")
	assert.NotContains(t, text, "VM-instruction error", "no error: no line")

	le.PutUint32(v[748:], 1<<7) // no secondary controls: EPT is off whatever ProcBased2 says
	n, err = ParseNestedState(b)
	require.NoError(t, err)
	d, err = n.VMXData()
	require.NoError(t, err)
	text = strings.Join(d.Describe(), "\n")
	assert.Contains(t, text, "EPT off")
	assert.Contains(t, text, "secondary controls inactive")
}

// TestVMXDataWithShadow: in guest mode with VMCS shadowing, KVM sends the
// shadow vmcs12 after vmcs12.
func TestVMXDataWithShadow(t *testing.T) {
	b := vmxBlob(NestedGuestMode, 2)
	v := b[128:]
	put32 := func(off int, x uint32) { binary.LittleEndian.PutUint32(v[off:], x) }
	put64 := func(off int, x uint64) { binary.LittleEndian.PutUint64(v[off:], x) }
	put32(0, VMCS12Revision)
	put32(8, 1)                               // launch_state
	put64(120, 0x5_001e)                      // ept_pointer
	put64(176, ^uint64(0))                    // vmcs_link_pointer
	put64(544, 0xfff0)                        // guest_rip
	put64(672, 0xffffffff81000000)            // host_rip
	put32(744, 0x7f)                          // pin_based_vm_exec_control
	put32(808, 7)                             // vm_instruction_error
	put32(812, 1<<31|33)                      // vm_exit_reason: a failed entry, invalid guest state
	put32(928, 5000)                          // vmx_preemption_timer_value
	binary.LittleEndian.PutUint16(v[960:], 1) // virtual_processor_id
	put32(VMCS12Size, VMCS12Revision|1<<31)   // shadow vmcs12: revision with the shadow bit
	put64(VMCS12Size+544, 0x1234)

	n, err := ParseNestedState(b)
	require.NoError(t, err)
	d, err := n.VMXData()
	require.NoError(t, err)
	require.NotNil(t, d)
	assert.Equal(t, VMCS12{RevisionID: VMCS12Revision, LaunchState: 1, EPTPointer: 0x5_001e, VMCSLinkPointer: ^uint64(0),
		GuestRIP: 0xfff0, HostRIP: 0xffffffff81000000, PinBased: 0x7f, InstructionError: 7, ExitReason: 1<<31 | 33,
		PreemptionTimerValue: 5000, VPID: 1}, d.VMCS12)
	require.NotNil(t, d.Shadow)
	assert.Equal(t, uint32(VMCS12Revision|1<<31), d.Shadow.RevisionID)
	assert.Equal(t, uint64(0x1234), d.Shadow.GuestRIP)
	text := strings.Join(d.Describe(), "\n")
	assert.Contains(t, text, "last exit G1 saw: basic reason 33 (SDM vol. 3D, appendix C), qualification 0x0, a failed VM entry")
	assert.Contains(t, text, "VM-instruction error 7: VM entry with invalid control field(s)")
	assert.Contains(t, text, "G1 resumes at host rip 0xffffffff81000000")
	assert.Contains(t, text, "preemption timer 5000")
	assert.Contains(t, text, "shadow vmcs12 (what G2's own VMREAD and VMWRITE reach) revision 0x91e57ed0, not launched")
}

// TestVMXDataHostile: a short or odd data area gives an error or what it
// holds, never a panic or a read past its end.
func TestVMXDataHostile(t *testing.T) {
	tests := []struct {
		name    string
		data    int // bytes of data after the header
		wantErr string
		shadow  bool
	}{
		{"VMXON off: header only", 0, "", false},
		{"too short for vmcs12", 100, "vmcs12: 100 bytes, want at least 998", false},
		{"vmcs12's used bytes only", 998, "", false},
		{"shadow area too short", VMCS12Size + 500, "shadow vmcs12: 500 bytes, want at least 998", false},
		{"shadow area of its used bytes", VMCS12Size + 998, "", true},
		{"more than two areas", 3 * VMCS12Size, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := uint32(128 + tt.data)
			n, err := ParseNestedState(nestedBlob(NestedGuestMode, NestedFormatVMX, size, int(size)))
			require.NoError(t, err)
			d, err := n.VMXData()
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			if tt.data == 0 {
				assert.Nil(t, d, "no current VMCS: no data, no error")
				return
			}
			require.NotNil(t, d)
			assert.Equal(t, tt.shadow, d.Shadow != nil)
			assert.NotEmpty(t, d.Describe())
		})
	}

	n, err := ParseNestedState(nestedBlob(0, NestedFormatSVM, 128+4096, 128+4096))
	require.NoError(t, err)
	_, err = n.VMXData()
	assert.ErrorContains(t, err, "not VMX", "an SVM blob holds a vmcb12, not a vmcs12")
	_, err = ParseVMCS12(make([]byte, 100))
	assert.EqualError(t, err, "vmcs12: 100 bytes, want at least 998")
}

func TestVMInstructionErrorName(t *testing.T) {
	assert.Equal(t, "VM entry with invalid control field(s)", VMInstructionErrorName(7))
	assert.Equal(t, "VMPTRLD with incorrect VMCS revision identifier", VMInstructionErrorName(11))
	assert.Equal(t, "unnamed", VMInstructionErrorName(14), "14 is reserved")
}

// TestControlNames: the controls of the vmcs12 that G1's kvm_intel set up
// for G2 in the Intel lab, with their default1 bits (SDM vol. 3D, A.3).
func TestControlNames(t *testing.T) {
	assert.Equal(t, "EXTERNAL_INTERRUPT_EXITING NMI_EXITING VIRTUAL_NMIS PREEMPTION_TIMER default1 bits 1,2,4",
		controlNames(vmxPinBits, vmxPinDefault1, 0x7f))
	assert.Equal(t, "USE_TSC_OFFSETTING HLT_EXITING MWAIT_EXITING RDPMC_EXITING USE_TPR_SHADOW MOV_DR_EXITING "+
		"UNCOND_IO_EXITING USE_MSR_BITMAPS MONITOR_EXITING ACTIVATE_SECONDARY_CONTROLS default1 bits 1,4,5,6,8,13,14,26",
		controlNames(vmxProcBits, vmxProcDefault1, 0xb5a06dfa))
	assert.Equal(t, "CR3_LOAD_EXITING bit18", controlNames(vmxProcBits, vmxProcDefault1, 1<<15|1<<18))
	assert.Equal(t, "none", controlNames(vmxPinBits, vmxPinDefault1, 0))
}

// TestNestedStateCapturedVMX decodes KVM_GET_NESTED_STATE as the Intel
// lab's H (Linux 6.1, kvm_intel under Bochs) returned it, read live by
// SIGUSR1 while G1's kvm_intel ran a tiny G2 spinning with interrupts on
// (scenario anatomy, TestIntelLabAnatomy; H logs the blob gzipped).
func TestNestedStateCapturedVMX(t *testing.T) {
	b, err := capturedStates.ReadFile("testdata/nested-state/vmx-guest-mode.bin")
	require.NoError(t, err)
	n, err := ParseNestedState(b)
	require.NoError(t, err)
	assert.Equal(t, uint16(NestedGuestMode), n.Flags, "guest mode; VMX has no GIF")
	assert.Equal(t, uint32(128+VMCS12Size), n.Size, "the header and vmcs12: G2 is no hypervisor, so no shadow vmcs12")
	require.NotNil(t, n.VMX)
	assert.Equal(t, uint64(0x1458b000), n.VMX.VMXONPA)
	assert.Equal(t, uint64(0x1687c000), n.VMX.VMCS12PA)
	assert.Equal(t, uint16(0), n.VMX.SMMFlags)
	d, err := n.VMXData()
	require.NoError(t, err)
	require.NotNil(t, d)
	assert.Nil(t, d.Shadow)
	v := d.VMCS12
	assert.Equal(t, uint32(VMCS12Revision), v.RevisionID)
	assert.True(t, v.Launched())
	assert.Equal(t, uint32(0x7f), v.PinBased)
	assert.Equal(t, uint32(0xb5a06dfa), v.ProcBased)
	assert.Equal(t, uint32(0x30eb), v.ProcBased2)
	assert.Equal(t, uint32(0x60042), v.ExceptionBitmap, "#DB #UD #AC #MC, no #PF with EPT")
	assert.Equal(t, uint64(0x145bc05e), v.EPTPointer)
	assert.Equal(t, uint16(1), v.VPID)
	assert.Equal(t, uint32(0x2befff), v.ExitControls)
	assert.Equal(t, uint32(0xd3ff), v.EntryControls)
	assert.Equal(t, uint32(0xffffffff), v.PreemptionTimerValue, "soft-disabled: G2 armed no timer")
	assert.Equal(t, uint64(0x212), v.GuestRFLAGS, "the spin loop runs with IF set")
	assert.Equal(t, uint32(1), v.ExitReason, "the last exit G1 saw: EXTERNAL_INTERRUPT, its timer")
	text := strings.Join(d.Describe(), "\n")
	for _, want := range []string{
		"vmcs12 revision 0x11e57ed0, launched",
		"vmcs12 pin-based controls 0x7f: EXTERNAL_INTERRUPT_EXITING NMI_EXITING VIRTUAL_NMIS PREEMPTION_TIMER default1 bits 1,2,4",
		"vmcs12 processor-based controls 0xb5a06dfa: USE_TSC_OFFSETTING HLT_EXITING MWAIT_EXITING RDPMC_EXITING USE_TPR_SHADOW " +
			"MOV_DR_EXITING UNCOND_IO_EXITING USE_MSR_BITMAPS MONITOR_EXITING ACTIVATE_SECONDARY_CONTROLS default1 bits 1,4,5,6,8,13,14,26",
		"vmcs12 secondary controls 0x30eb: VIRTUALIZE_APIC_ACCESSES ENABLE_EPT ENABLE_RDTSCP ENABLE_VPID WBINVD_EXITING UNRESTRICTED_GUEST ENABLE_INVPCID ENABLE_VMFUNC",
		"exception bitmap 0x60042: #DB #UD #AC #MC",
		"EPTP 0x145bc05e: root 0x145bc000, WB, 4-level walk, A/D on",
	} {
		assert.Contains(t, text, want)
	}
}
