package kvm

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func nestedBlob(flags, format uint16, size uint32, total int) []byte {
	b := make([]byte, total)
	binary.LittleEndian.PutUint16(b[0:], flags)
	binary.LittleEndian.PutUint16(b[2:], format)
	binary.LittleEndian.PutUint32(b[4:], size)
	return b
}

func TestParseNestedStateSVM(t *testing.T) {
	b := nestedBlob(NestedGuestMode|NestedGIFSet, NestedFormatSVM, 128+4096, 8192)
	binary.LittleEndian.PutUint64(b[8:], 0x7000) // vmcb_pa
	b[128] = 0xaa                                // first byte of the vmcb12 save area
	n, err := ParseNestedState(b)
	require.NoError(t, err)
	assert.True(t, n.GuestMode())
	assert.False(t, n.RunPending())
	assert.Equal(t, uint16(NestedFormatSVM), n.Format)
	require.NotNil(t, n.SVM)
	assert.Nil(t, n.VMX)
	assert.Equal(t, uint64(0x7000), n.SVM.VMCBPA)
	assert.Len(t, n.Data, 4096)
	assert.Equal(t, byte(0xaa), n.Data[0])
}

func TestParseNestedStateVMX(t *testing.T) {
	b := nestedBlob(NestedRunPending, NestedFormatVMX, 128, 256)
	binary.LittleEndian.PutUint64(b[8:], 0x1000)  // vmxon_pa
	binary.LittleEndian.PutUint64(b[16:], 0x2000) // vmcs12_pa
	binary.LittleEndian.PutUint16(b[24:], NestedSMMVMXON)
	binary.LittleEndian.PutUint32(b[28:], NestedVMXPreemptionTimerDeadline)
	binary.LittleEndian.PutUint64(b[32:], 12345)
	n, err := ParseNestedState(b)
	require.NoError(t, err)
	assert.True(t, n.RunPending())
	require.NotNil(t, n.VMX)
	assert.Equal(t, uint64(0x1000), n.VMX.VMXONPA)
	assert.Equal(t, uint64(0x2000), n.VMX.VMCS12PA)
	assert.Equal(t, uint16(NestedSMMVMXON), n.VMX.SMMFlags)
	assert.Equal(t, uint32(NestedVMXPreemptionTimerDeadline), n.VMX.Flags)
	assert.Equal(t, uint64(12345), n.VMX.PreemptionTimerDeadline)
	assert.Empty(t, n.Data)
}

func TestParseNestedStateRejects(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"short buffer", make([]byte, 64)},
		{"size below header", nestedBlob(0, NestedFormatSVM, 100, 256)},
		{"size beyond buffer", nestedBlob(0, NestedFormatSVM, 1<<20, 256)},
		{"unknown format", nestedBlob(0, 7, 128, 256)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseNestedState(tt.b)
			assert.Error(t, err)
		})
	}
}

func TestParseNestedStateVMCS12(t *testing.T) {
	b := nestedBlob(NestedGuestMode, NestedFormatVMX, 128+2*VMCS12Size, 128+2*VMCS12Size)
	binary.LittleEndian.PutUint64(b[8:], 0x9000)  // vmxon_pa
	binary.LittleEndian.PutUint64(b[16:], 0xa000) // vmcs12_pa
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
	put32(812, 30)                            // vm_exit_reason: I/O instruction
	binary.LittleEndian.PutUint16(v[960:], 1) // virtual_processor_id
	put32(VMCS12Size, VMCS12Revision|1<<31)   // shadow vmcs12: revision with the shadow bit
	binary.LittleEndian.PutUint64(v[VMCS12Size+544:], 0x1234)

	n, err := ParseNestedState(b)
	require.NoError(t, err)
	got := n.VMCS12()
	require.NotNil(t, got)
	assert.Equal(t, VMCS12{Revision: VMCS12Revision, LaunchState: 1, EPTPointer: 0x5_001e, VMCSLinkPointer: ^uint64(0),
		GuestRIP: 0xfff0, HostRIP: 0xffffffff81000000, PinBased: 0x7f, InstructionError: 7, ExitReason: 30, VPID: 1}, *got)
	shadow := n.ShadowVMCS12()
	require.NotNil(t, shadow)
	assert.Equal(t, uint32(VMCS12Revision|1<<31), shadow.Revision)
	assert.Equal(t, uint64(0x1234), shadow.GuestRIP)
}

func TestNestedStateWithoutVMCS12(t *testing.T) {
	b := nestedBlob(0, NestedFormatVMX, 128, 128)
	n, err := ParseNestedState(b)
	require.NoError(t, err)
	assert.Nil(t, n.VMCS12(), "VMXON off: header only")
	assert.Nil(t, n.ShadowVMCS12())

	svm, err := ParseNestedState(nestedBlob(0, NestedFormatSVM, 128+4096, 128+4096))
	require.NoError(t, err)
	assert.Nil(t, svm.VMCS12(), "an SVM blob holds a vmcb12, not a vmcs12")

	_, err = ParseVMCS12(make([]byte, 100))
	assert.EqualError(t, err, "vmcs12: 100 bytes, want at least 998")
}
