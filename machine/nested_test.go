package machine

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/kvm"
)

func TestDescribeNestedState(t *testing.T) {
	header := func(flags, format uint16, size uint32, total int) []byte {
		b := make([]byte, total)
		binary.LittleEndian.PutUint16(b[0:], flags)
		binary.LittleEndian.PutUint16(b[2:], format)
		binary.LittleEndian.PutUint32(b[4:], size)
		return b
	}
	vmxOff := header(0, kvm.NestedFormatVMX, 128, 128)
	binary.LittleEndian.PutUint64(vmxOff[8:], ^uint64(0))
	binary.LittleEndian.PutUint64(vmxOff[16:], ^uint64(0))

	// What kvm_intel returned in the Intel lab's H after vcpu.test's
	// TestNestedStateVMX: G1 did VMXON at 0x9000, VMPTRLD 0xa000, a
	// VMWRITE of GUEST_RIP and a VMLAUNCH that failed on the controls it
	// never wrote.
	vmcs := header(0, kvm.NestedFormatVMX, 128+kvm.VMCS12Size, 128+kvm.VMCS12Size)
	binary.LittleEndian.PutUint64(vmcs[8:], 0x9000)
	binary.LittleEndian.PutUint64(vmcs[16:], 0xa000)
	binary.LittleEndian.PutUint32(vmcs[128:], kvm.VMCS12Revision)
	binary.LittleEndian.PutUint64(vmcs[128+544:], 0x12345678) // guest_rip
	binary.LittleEndian.PutUint32(vmcs[128+808:], 7)          // vm_instruction_error

	tests := []struct {
		name       string
		b          []byte
		want       string
		wantDetail []string // lines Detail must hold
	}{
		{"VMXON off", vmxOff, "format=VMX flags=0x0 L1 (not in guest mode), VMXON off, no current VMCS12, size=128", nil},
		{"current vmcs12", vmcs, "format=VMX flags=0x0 L1 (not in guest mode), vmxon=0x9000, vmcs12=0xa000, size=4224", []string{
			"vmcs12 revision 0x11e57ed0, not launched",
			"G2 (vmcs12 guest state): rip 0x12345678 rsp 0x0 rflags 0x0 cr0 0x0 cr3 0x0 cr4 0x0, activity state 0",
			"VM-instruction error 7: VM entry with invalid control field(s)",
		}},
		{"SVM", header(kvm.NestedGuestMode|kvm.NestedGIFSet, kvm.NestedFormatSVM, 128+4096, 128+4096),
			"format=SVM flags=0x101 guest mode: an L2 guest was running, GIF set, vmcb12=0x0, size=4224", []string{
				"nested paging off: G1 shadows G2's page tables"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := kvm.ParseNestedState(tt.b)
			require.NoError(t, err)
			assert.Equal(t, tt.want, DescribeNestedState(st))
			detail := nestedDetail(st)
			for _, l := range tt.wantDetail {
				assert.Contains(t, detail, l)
			}
			if tt.wantDetail == nil {
				assert.Empty(t, detail)
			}
		})
	}
}
