package kvm

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Offsets below are the kernel's offsetof() values in struct kvm_run on
// x86-64; writing raw bytes there and reading them through the accessors
// checks the overlay against the C layout.

func newTestRun(t *testing.T, size int) (*Run, []byte) {
	t.Helper()
	b := make([]byte, size)
	r, err := NewRun(b)
	require.NoError(t, err)
	return r, b
}

func TestRunAccessorsReadKernelOffsets(t *testing.T) {
	r, b := newTestRun(t, 3*4096)
	put32 := func(off int, v uint32) { binary.LittleEndian.PutUint32(b[off:], v) }
	put64 := func(off int, v uint64) { binary.LittleEndian.PutUint64(b[off:], v) }

	t.Run("header", func(t *testing.T) {
		put32(8, uint32(ExitMMIO)) // exit_reason
		b[12] = 1                  // ready_for_interrupt_injection
		b[13] = 1                  // if_flag
		put64(16, 0xf)             // cr8
		put64(24, 0xfee00900)      // apic_base
		assert.Equal(t, ExitMMIO, r.ExitReason())
		assert.True(t, r.ReadyForInterruptInjection())
		assert.True(t, r.IFFlag())
		assert.Equal(t, uint64(0xf), r.CR8())
		assert.Equal(t, uint64(0xfee00900), r.APICBase())
	})
	t.Run("io", func(t *testing.T) {
		b[32] = IODirectionOut // direction
		b[33] = 2              // size
		binary.LittleEndian.PutUint16(b[34:], 0x3f8)
		put32(36, 3)    // count
		put64(40, 4096) // data_offset
		copy(b[4096:], "abcdef")
		io := r.IO()
		assert.Equal(t, RunIO{Direction: IODirectionOut, Size: 2, Port: 0x3f8, Count: 3, DataOffset: 4096}, *io)
		data, err := r.IOData()
		require.NoError(t, err)
		assert.Equal(t, []byte("abcdef"), data)
	})
	t.Run("mmio", func(t *testing.T) {
		put64(32, 0xd0000000) // phys_addr
		copy(b[40:48], []byte{1, 2, 3, 4, 5, 6, 7, 8})
		put32(48, 4) // len
		b[52] = 1    // is_write
		m := r.MMIO()
		assert.Equal(t, uint64(0xd0000000), m.PhysAddr)
		assert.Equal(t, uint8(1), m.IsWrite)
		data, err := r.MMIOData()
		require.NoError(t, err)
		assert.Equal(t, []byte{1, 2, 3, 4}, data)
		data[0] = 9 // aliases the page, as the VMM's read reply must
		assert.Equal(t, byte(9), b[40])
	})
	t.Run("fail_entry", func(t *testing.T) {
		put64(32, 0x80000021)
		put32(40, 7)
		f := r.FailEntry()
		assert.Equal(t, uint64(0x80000021), f.HardwareEntryFailureReason)
		assert.Equal(t, uint32(7), f.CPU)
		assert.Equal(t, uint64(0x80000021), r.HardwareExitReason())
	})
	t.Run("internal", func(t *testing.T) {
		put32(32, InternalErrorEmulation)
		put32(36, 2)
		put64(40, 0x11)
		put64(48, 0x22)
		in := r.Internal()
		assert.Equal(t, uint32(InternalErrorEmulation), in.Suberror)
		assert.Equal(t, uint32(2), in.NData)
		assert.Equal(t, []uint64{0x11, 0x22}, in.Data[:2])
	})
	t.Run("system_event", func(t *testing.T) {
		put32(32, SystemEventReset)
		put32(36, 1)
		put64(40, 0xabc)
		ev := r.SystemEvent()
		assert.Equal(t, uint32(SystemEventReset), ev.Type)
		assert.Equal(t, uint64(0xabc), ev.Data[0])
	})
	t.Run("immediate_exit", func(t *testing.T) {
		b[0] = 1 // request_interrupt_window, must survive
		r.SetImmediateExit(true)
		assert.Equal(t, byte(1), b[1])
		assert.True(t, r.ImmediateExit())
		r.SetImmediateExit(false)
		assert.Equal(t, byte(0), b[1])
		assert.Equal(t, byte(1), b[0])
		assert.True(t, r.RequestInterruptWindow())
		r.SetRequestInterruptWindow(false)
		assert.Equal(t, byte(0), b[0])
	})
}

func TestRunIODataOutsidePage(t *testing.T) {
	tests := []struct {
		name       string
		size       uint8
		count      uint32
		dataOffset uint64
	}{
		{"count past the page", 1, 5000, 4096},
		{"offset past the page", 1, 1, 1 << 20},
		{"offset wraps", 4, 2, ^uint64(0) - 3},
		{"huge count", 4, 0xffffffff, 4096},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newTestRun(t, 2*4096)
			*r.IO() = RunIO{Direction: IODirectionOut, Size: tt.size, Count: tt.count, DataOffset: tt.dataOffset}
			data, err := r.IOData()
			assert.Error(t, err)
			assert.Nil(t, data)
		})
	}
}

func TestRunMMIOLengthTooLong(t *testing.T) {
	r, _ := newTestRun(t, 4096)
	r.MMIO().Len = 9
	_, err := r.MMIOData()
	assert.ErrorContains(t, err, "mmio length 9")
}

func TestNewRunRejectsShortBuffer(t *testing.T) {
	_, err := NewRun(make([]byte, 100))
	assert.ErrorContains(t, err, "smaller than struct kvm_run")
}

func TestExitReasonString(t *testing.T) {
	assert.Equal(t, "KVM_EXIT_SHUTDOWN", ExitShutdown.String())
	assert.Equal(t, "KVM_EXIT_SYSTEM_EVENT", ExitSystemEvent.String())
	assert.Equal(t, "KVM_EXIT_99", ExitReason(99).String())
	assert.Equal(t, "KVM_EXIT_14", ExitReason(14).String())
}
