package vcpu_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/vcpu"
)

// fakeRun is a kvm_run page in plain memory, filled the way the kernel
// fills a real one (offsets from <linux/kvm.h>).
func fakeRun(t *testing.T, reason kvm.ExitReason) (*kvm.Run, []byte) {
	t.Helper()
	b := make([]byte, 2*4096)
	r, err := kvm.NewRun(b)
	require.NoError(t, err)
	r.SetExitReason(reason)
	return r, b
}

func TestDecodeIO(t *testing.T) {
	r, b := fakeRun(t, kvm.ExitIO)
	*r.IO() = kvm.RunIO{Direction: kvm.IODirectionOut, Size: 1, Port: 0x14, Count: 5, DataOffset: 4096}
	copy(b[4096:], "hello")

	var d vcpu.Decoder
	e, err := d.Decode(r)
	require.NoError(t, err)
	io, ok := e.(*vcpu.ExitIO)
	require.True(t, ok, "got %T", e)
	assert.Equal(t, uint16(0x14), io.Port)
	assert.Equal(t, vcpu.Out, io.Direction)
	assert.Equal(t, uint32(5), io.Count)
	assert.Equal(t, []byte("hello"), io.Data)
	io.Data[0] = 'j' // aliases the run page, so IN replies reach the guest
	assert.Equal(t, byte('j'), b[4096])
}

func TestDecodeIORejectsHostileCount(t *testing.T) {
	tests := []struct {
		name string
		io   kvm.RunIO
	}{
		{"rep outsb with a huge count", kvm.RunIO{Direction: kvm.IODirectionOut, Size: 1, Count: 1 << 30, DataOffset: 4096}},
		{"count just over a page", kvm.RunIO{Direction: kvm.IODirectionOut, Size: 4, Count: 1025, DataOffset: 4096}},
		{"data offset past the mapping", kvm.RunIO{Direction: kvm.IODirectionIn, Size: 1, Count: 16, DataOffset: 8190}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := fakeRun(t, kvm.ExitIO)
			*r.IO() = tt.io
			var d vcpu.Decoder
			e, err := d.Decode(r)
			require.Error(t, err)
			io, ok := e.(*vcpu.ExitIO)
			require.True(t, ok)
			assert.Nil(t, io.Data, "no data slice reaches past the run page")
		})
	}
}

func TestDecodeMMIO(t *testing.T) {
	r, b := fakeRun(t, kvm.ExitMMIO)
	m := r.MMIO()
	m.PhysAddr, m.Len, m.IsWrite = 0x20000, 4, 1
	copy(m.Data[:], []byte{0xef, 0xbe, 0xad, 0xde})
	var d vcpu.Decoder
	e, err := d.Decode(r)
	require.NoError(t, err)
	assert.Equal(t, &vcpu.ExitMMIO{Addr: 0x20000, Write: true, Data: []byte{0xef, 0xbe, 0xad, 0xde}}, e)

	m.Len = 200
	_, err = d.Decode(r)
	assert.Error(t, err)
	_ = b
}

func TestDecodeOthers(t *testing.T) {
	tests := []struct {
		name  string
		setup func(r *kvm.Run, b []byte)
		want  vcpu.Exit
	}{
		{"hlt", func(r *kvm.Run, b []byte) { r.SetExitReason(kvm.ExitHLT) }, &vcpu.ExitHLT{}},
		{"shutdown", func(r *kvm.Run, b []byte) { r.SetExitReason(kvm.ExitShutdown) }, &vcpu.ExitShutdown{}},
		{"intr", func(r *kvm.Run, b []byte) { r.SetExitReason(kvm.ExitIntr) }, &vcpu.ExitIntr{}},
		{"fail entry", func(r *kvm.Run, b []byte) {
			r.SetExitReason(kvm.ExitFailEntry)
			binary.LittleEndian.PutUint64(b[32:], 0x80000021)
			binary.LittleEndian.PutUint32(b[40:], 2)
		}, &vcpu.ExitFailEntry{HardwareReason: 0x80000021, CPU: 2}},
		{"internal error", func(r *kvm.Run, b []byte) {
			r.SetExitReason(kvm.ExitInternalError)
			binary.LittleEndian.PutUint32(b[32:], kvm.InternalErrorEmulation)
			binary.LittleEndian.PutUint32(b[36:], 2)
			binary.LittleEndian.PutUint64(b[40:], 0xa)
			binary.LittleEndian.PutUint64(b[48:], 0xb)
		}, &vcpu.ExitInternalError{Suberror: kvm.InternalErrorEmulation, Data: []uint64{0xa, 0xb}}},
		{"internal error with hostile ndata", func(r *kvm.Run, b []byte) {
			r.SetExitReason(kvm.ExitInternalError)
			binary.LittleEndian.PutUint32(b[32:], kvm.InternalErrorDeliveryEv)
			binary.LittleEndian.PutUint32(b[36:], 0xffffffff)
		}, &vcpu.ExitInternalError{Suberror: kvm.InternalErrorDeliveryEv, Data: make([]uint64, 16)}},
		{"system event", func(r *kvm.Run, b []byte) {
			r.SetExitReason(kvm.ExitSystemEvent)
			binary.LittleEndian.PutUint32(b[32:], kvm.SystemEventReset)
			binary.LittleEndian.PutUint32(b[36:], 1)
			binary.LittleEndian.PutUint64(b[40:], 0x5)
		}, &vcpu.ExitSystemEvent{Type: kvm.SystemEventReset, Data: []uint64{0x5}}},
		{"unknown", func(r *kvm.Run, b []byte) {
			r.SetExitReason(kvm.ExitUnknown)
			binary.LittleEndian.PutUint64(b[32:], 0x7b)
		}, &vcpu.ExitUnknown{HardwareReason: 0x7b}},
		{"unhandled", func(r *kvm.Run, b []byte) { r.SetExitReason(kvm.ExitIRQWindowOpen) }, &vcpu.ExitUnhandled{Code: kvm.ExitIRQWindowOpen}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, b := fakeRun(t, 0)
			tt.setup(r, b)
			var d vcpu.Decoder
			e, err := d.Decode(r)
			require.NoError(t, err)
			assert.Equal(t, tt.want, e)
			assert.Equal(t, r.ExitReason(), e.Reason())
		})
	}
}

func TestFatalErrorFormatting(t *testing.T) {
	regs := &kvm.Regs{RAX: 0xa, RIP: 0x1003, RFLAGS: vcpu.RFLAGSFixed | vcpu.RFLAGSIF | vcpu.RFLAGSZF}
	sregs := &kvm.Sregs{CR0: vcpu.CR0PE | vcpu.CR0PG, CR3: 0x2000, CR4: vcpu.CR4PAE, EFER: vcpu.EFERLME | vcpu.EFERLMA}
	sregs.CS = vcpu.SegmentFromDescriptor(vcpu.SelectorCode64, vcpu.FlatGDT()[1])
	sregs.GDT = kvm.DTable{Base: 0x500, Limit: vcpu.FlatGDTLimit}

	fe := &vcpu.FatalError{VCPU: 1, Exit: &vcpu.ExitShutdown{}, Regs: regs, Sregs: sregs}
	assert.Equal(t, "vcpu 1: KVM_EXIT_SHUTDOWN (triple fault) at rip=0x1003", fe.Error())

	dump := fe.Dump()
	for _, want := range []string{
		"vcpu 1: KVM_EXIT_SHUTDOWN (triple fault) at rip=0x1003\n",
		"rax=000000000000000a",
		"rip=0000000000001003 rflags=00000242 [ZF IF]",
		"cr0=80000001 cr2=0000000000000000 cr3=0000000000002000 cr4=00000020",
		"efer=500",
		"mode=long",
		"cs =0008 base=0000000000000000 limit=ffffffff type=b s=1 dpl=0 p=1 db=0 l=1 g=1",
		"gdt=0000000000000500/002f",
	} {
		assert.Contains(t, dump, want)
	}

	real := &vcpu.FatalError{Exit: &vcpu.ExitShutdown{}, Regs: &kvm.Regs{RIP: 0x10}, Sregs: &kvm.Sregs{CS: kvm.Segment{Selector: 0xf000}}}
	assert.Equal(t, "vcpu 0: KVM_EXIT_SHUTDOWN (triple fault) at rip=0x10 (real mode cs=0xf000)", real.Error())

	noRegs := &vcpu.FatalError{VCPU: 2, Exit: &vcpu.ExitUnknown{HardwareReason: 0x400}}
	assert.Equal(t, "vcpu 2: KVM_EXIT_UNKNOWN (hardware exit reason 0x400)", noRegs.Error())
	assert.Contains(t, noRegs.Dump(), "registers unavailable")

	cause := errors.New("boom")
	wrapped := &vcpu.FatalError{Exit: &vcpu.ExitIO{Port: 0x10, Direction: vcpu.In, Size: 1, Count: 9}, Err: cause}
	assert.ErrorIs(t, wrapped, cause)
	assert.Equal(t, "vcpu 0: KVM_EXIT_IO (in port 0x10, size 1, count 9): boom", wrapped.Error())
}

func TestStatsSnapshot(t *testing.T) {
	var h vcpu.Handler
	s := new(vcpu.Stats)
	h.Stats = s
	_, err := h.Dispatch(&vcpu.ExitIO{Port: 1, Direction: vcpu.Out, Size: 1, Count: 1, Data: []byte{0}})
	require.NoError(t, err)
	snap := s.Snapshot()
	assert.Equal(t, uint64(1), snap.UnmappedPIOWrites)
	assert.Equal(t, uint16(1), snap.LastUnmappedPort)
	assert.Zero(t, snap.Total(), "Dispatch counts unmapped accesses; exits are counted by the run loop")

	var nilStats *vcpu.Stats
	assert.Equal(t, uint64(0), nilStats.Exits(kvm.ExitIO))
	assert.Empty(t, nilStats.Snapshot().Exits)
}
