package vcpu_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices"
	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/vcpu"
)

// bus returns a bus with dev at [base, base+size).
func bus(t *testing.T, name string, dev devices.Device, base, size uint64) *devices.Bus {
	t.Helper()
	b := devices.NewBus(name)
	require.NoError(t, b.Insert(dev, base, size))
	return b
}

func TestDispatchPortIO(t *testing.T) {
	tests := []struct {
		name     string
		exit     vcpu.ExitIO
		replies  map[uint64][][]byte
		wantData []byte   // the exit's data after dispatch (what an IN returns)
		wantLog  []access // what the device saw
	}{
		{
			name:     "out byte",
			exit:     vcpu.ExitIO{Port: 0x3f8, Direction: vcpu.Out, Size: 1, Count: 1, Data: []byte{'A'}},
			wantData: []byte{'A'},
			wantLog:  []access{{Write: true, Offset: 0, Data: []byte{'A'}}},
		},
		{
			name:     "out dword at offset",
			exit:     vcpu.ExitIO{Port: 0x3fc, Direction: vcpu.Out, Size: 4, Count: 1, Data: []byte{1, 2, 3, 4}},
			wantData: []byte{1, 2, 3, 4},
			wantLog:  []access{{Write: true, Offset: 4, Data: []byte{1, 2, 3, 4}}},
		},
		{
			name:     "in word",
			exit:     vcpu.ExitIO{Port: 0x3f9, Direction: vcpu.In, Size: 2, Count: 1, Data: make([]byte, 2)},
			replies:  map[uint64][][]byte{1: {{0x34, 0x12}}},
			wantData: []byte{0x34, 0x12},
			wantLog:  []access{{Offset: 1, Data: []byte{0x34, 0x12}}},
		},
		{
			name:     "rep outsb walks the data in order",
			exit:     vcpu.ExitIO{Port: 0x3f8, Direction: vcpu.Out, Size: 1, Count: 3, Data: []byte("abc")},
			wantData: []byte("abc"),
			wantLog: []access{
				{Write: true, Offset: 0, Data: []byte("a")},
				{Write: true, Offset: 0, Data: []byte("b")},
				{Write: true, Offset: 0, Data: []byte("c")},
			},
		},
		{
			name:     "rep outsw elements are size bytes",
			exit:     vcpu.ExitIO{Port: 0x3f8, Direction: vcpu.Out, Size: 2, Count: 2, Data: []byte{1, 2, 3, 4}},
			wantData: []byte{1, 2, 3, 4},
			wantLog: []access{
				{Write: true, Offset: 0, Data: []byte{1, 2}},
				{Write: true, Offset: 0, Data: []byte{3, 4}},
			},
		},
		{
			name:     "rep insb fills every element",
			exit:     vcpu.ExitIO{Port: 0x3f8, Direction: vcpu.In, Size: 1, Count: 4, Data: make([]byte, 4)},
			replies:  map[uint64][][]byte{0: {{'w'}, {'x'}, {'y'}, {'z'}}},
			wantData: []byte("wxyz"),
			wantLog: []access{
				{Offset: 0, Data: []byte("w")}, {Offset: 0, Data: []byte("x")},
				{Offset: 0, Data: []byte("y")}, {Offset: 0, Data: []byte("z")},
			},
		},
		{
			name:     "rep insd",
			exit:     vcpu.ExitIO{Port: 0x3f8, Direction: vcpu.In, Size: 4, Count: 2, Data: make([]byte, 8)},
			replies:  map[uint64][][]byte{0: {{1, 1, 1, 1}, {2, 2, 2, 2}}},
			wantData: []byte{1, 1, 1, 1, 2, 2, 2, 2},
			wantLog:  []access{{Offset: 0, Data: []byte{1, 1, 1, 1}}, {Offset: 0, Data: []byte{2, 2, 2, 2}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := newRecorder()
			for off, r := range tt.replies {
				dev.reply(off, r...)
			}
			stats := new(vcpu.Stats)
			h := vcpu.Handler{PIO: bus(t, "pio", dev, 0x3f8, 8), Stats: stats}
			e := tt.exit
			action, err := h.Dispatch(&e)
			require.NoError(t, err)
			assert.Equal(t, vcpu.ActionResume, action)
			assert.Equal(t, tt.wantData, e.Data)
			assert.Equal(t, tt.wantLog, dev.log())
			assert.Zero(t, stats.Snapshot().UnmappedPIOReads+stats.Snapshot().UnmappedPIOWrites)
		})
	}
}

func TestDispatchMMIO(t *testing.T) {
	dev := newRecorder().reply(8, []byte{0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0})
	h := vcpu.Handler{MMIO: bus(t, "mmio", dev, 0xd0000000, 0x1000)}

	w := &vcpu.ExitMMIO{Addr: 0xd0000004, Write: true, Data: []byte{0xef, 0xbe, 0xad, 0xde}}
	action, err := h.Dispatch(w)
	require.NoError(t, err)
	assert.Equal(t, vcpu.ActionResume, action)

	r := &vcpu.ExitMMIO{Addr: 0xd0000008, Data: make([]byte, 8)}
	_, err = h.Dispatch(r)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0}, r.Data)

	assert.Equal(t, []access{
		{Write: true, Offset: 4, Data: []byte{0xef, 0xbe, 0xad, 0xde}},
		{Offset: 8, Data: []byte{0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0}},
	}, dev.log())
}

func TestDispatchUnmappedIsCountedNotAnError(t *testing.T) {
	dev := newRecorder()
	stats := new(vcpu.Stats)
	h := vcpu.Handler{
		PIO:   bus(t, "pio", dev, 0x60, 1),
		MMIO:  bus(t, "mmio", dev, 0x1000, 0x10),
		Stats: stats,
	}
	tests := []struct {
		name     string
		exit     vcpu.Exit
		wantData []byte
	}{
		{"port read", &vcpu.ExitIO{Port: 0x80, Direction: vcpu.In, Size: 2, Count: 1, Data: []byte{0, 0}}, []byte{0xff, 0xff}},
		{"port write", &vcpu.ExitIO{Port: 0x80, Direction: vcpu.Out, Size: 1, Count: 1, Data: []byte{7}}, []byte{7}},
		{"port read straddling a device end", &vcpu.ExitIO{Port: 0x60, Direction: vcpu.In, Size: 2, Count: 1, Data: []byte{0, 0}}, []byte{0xff, 0xff}},
		{"mmio read", &vcpu.ExitMMIO{Addr: 0x2000, Data: []byte{0, 0, 0, 0}}, []byte{0xff, 0xff, 0xff, 0xff}},
		{"mmio write", &vcpu.ExitMMIO{Addr: 0x2000, Write: true, Data: []byte{1}}, []byte{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			action, err := h.Dispatch(tt.exit)
			require.NoError(t, err)
			assert.Equal(t, vcpu.ActionResume, action)
			switch e := tt.exit.(type) {
			case *vcpu.ExitIO:
				assert.Equal(t, tt.wantData, e.Data)
			case *vcpu.ExitMMIO:
				assert.Equal(t, tt.wantData, e.Data)
			}
		})
	}
	snap := stats.Snapshot()
	assert.Equal(t, uint64(2), snap.UnmappedPIOReads)
	assert.Equal(t, uint64(1), snap.UnmappedPIOWrites)
	assert.Equal(t, uint64(1), snap.UnmappedMMIOReads)
	assert.Equal(t, uint64(1), snap.UnmappedMMIOWrites)
	assert.Equal(t, uint16(0x60), snap.LastUnmappedPort)
	assert.Equal(t, uint64(0x2000), snap.LastUnmappedMMIO)
	assert.Empty(t, dev.log(), "no device saw an access it does not fully hold")
}

func TestDispatchNilBuses(t *testing.T) {
	var h vcpu.Handler // no buses, no stats: everything floats
	in := &vcpu.ExitIO{Port: 0x71, Direction: vcpu.In, Size: 1, Count: 2, Data: []byte{0, 0}}
	_, err := h.Dispatch(in)
	require.NoError(t, err)
	assert.Equal(t, []byte{0xff, 0xff}, in.Data)
	rd := &vcpu.ExitMMIO{Addr: 0xfee00000, Data: []byte{0}}
	_, err = h.Dispatch(rd)
	require.NoError(t, err)
	assert.Equal(t, []byte{0xff}, rd.Data)
}

func TestDispatchRejectsMalformedIO(t *testing.T) {
	tests := []struct {
		name string
		exit vcpu.Exit
		want string
	}{
		{"hostile count", &vcpu.ExitIO{Port: 0x10, Direction: vcpu.Out, Size: 1, Count: 0xffffffff, Data: make([]byte, 16)}, "exceed the 4096-byte I/O page"},
		{"count past the page", &vcpu.ExitIO{Port: 0x10, Direction: vcpu.Out, Size: 4, Count: 1025, Data: make([]byte, 4100)}, "exceed the 4096-byte I/O page"},
		{"data shorter than count", &vcpu.ExitIO{Port: 0x10, Direction: vcpu.In, Size: 2, Count: 8, Data: make([]byte, 4)}, "4 data bytes for 8 elements"},
		{"size 3", &vcpu.ExitIO{Port: 0x10, Direction: vcpu.Out, Size: 3, Count: 1, Data: make([]byte, 3)}, "access size 3"},
		{"size 8", &vcpu.ExitIO{Port: 0x10, Direction: vcpu.Out, Size: 8, Count: 1, Data: make([]byte, 8)}, "access size 8"},
		{"zero count", &vcpu.ExitIO{Port: 0x10, Direction: vcpu.Out, Size: 1, Count: 0}, "zero element count"},
		{"mmio 16 bytes", &vcpu.ExitMMIO{Addr: 0x1000, Data: make([]byte, 16)}, "access size 16"},
		{"mmio empty", &vcpu.ExitMMIO{Addr: 0x1000}, "access size 0"},
		{"mmio wraps", &vcpu.ExitMMIO{Addr: ^uint64(0) - 1, Data: make([]byte, 4)}, "wraps around"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := newRecorder()
			h := vcpu.Handler{PIO: bus(t, "pio", dev, 0, 0x10000), MMIO: bus(t, "mmio", dev, 0, 1<<40)}
			_, err := h.Dispatch(tt.exit)
			require.Error(t, err)
			assert.ErrorIs(t, err, vcpu.ErrMalformedExit)
			assert.Contains(t, err.Error(), tt.want)
			var fe *vcpu.FatalError
			assert.True(t, errors.As(err, &fe))
			assert.Empty(t, dev.log(), "nothing reached a device")
		})
	}
}

func TestDispatchActions(t *testing.T) {
	tests := []struct {
		name       string
		exit       vcpu.Exit
		wantAction vcpu.Action
		wantFatal  string // substring of the error, "" for none
	}{
		{"hlt", &vcpu.ExitHLT{}, vcpu.ActionHalt, ""},
		{"intr", &vcpu.ExitIntr{}, vcpu.ActionInterrupted, ""},
		{"poweroff", &vcpu.ExitSystemEvent{Type: kvm.SystemEventShutdown}, vcpu.ActionPoweroff, ""},
		{"reset", &vcpu.ExitSystemEvent{Type: kvm.SystemEventReset}, vcpu.ActionReset, ""},
		{"wakeup", &vcpu.ExitSystemEvent{Type: kvm.SystemEventWakeup}, vcpu.ActionResume, ""},
		{"crash", &vcpu.ExitSystemEvent{Type: kvm.SystemEventCrash, Data: []uint64{0x1}}, vcpu.ActionResume, "KVM_EXIT_SYSTEM_EVENT (crash, data [0x1])"},
		{"shutdown", &vcpu.ExitShutdown{}, vcpu.ActionResume, "KVM_EXIT_SHUTDOWN (triple fault)"},
		{"fail entry", &vcpu.ExitFailEntry{HardwareReason: 0x80000021, CPU: 3}, vcpu.ActionResume, "KVM_EXIT_FAIL_ENTRY (hardware entry failure reason 0x80000021 on host cpu 3)"},
		{"internal", &vcpu.ExitInternalError{Suberror: kvm.InternalErrorEmulation, Data: []uint64{0x2, 0xf00f}}, vcpu.ActionResume, "KVM_EXIT_INTERNAL_ERROR (emulation failure, data [0x2 0xf00f])"},
		{"unknown", &vcpu.ExitUnknown{HardwareReason: 0x7b}, vcpu.ActionResume, "KVM_EXIT_UNKNOWN (hardware exit reason 0x7b)"},
		{"unhandled", &vcpu.ExitUnhandled{Code: kvm.ExitIRQWindowOpen}, vcpu.ActionResume, "KVM_EXIT_IRQ_WINDOW_OPEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h vcpu.Handler
			action, err := h.Dispatch(tt.exit)
			assert.Equal(t, tt.wantAction, action)
			if tt.wantFatal == "" {
				assert.NoError(t, err)
				return
			}
			var fe *vcpu.FatalError
			require.True(t, errors.As(err, &fe), "got %v", err)
			assert.Equal(t, tt.exit.Reason(), fe.Exit.Reason())
			assert.Contains(t, err.Error(), tt.wantFatal)
		})
	}
}

func TestDispatchDoesNotAllocate(t *testing.T) {
	h := vcpu.Handler{PIO: bus(t, "pio", nullDevice{}, 0x80, 1), Stats: new(vcpu.Stats)}
	e := &vcpu.ExitIO{Port: 0x80, Direction: vcpu.Out, Size: 1, Count: 1, Data: []byte{0}}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := h.Dispatch(e); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

type nullDevice struct{}

func (nullDevice) Read(offset uint64, data []byte)  {}
func (nullDevice) Write(offset uint64, data []byte) {}
