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
