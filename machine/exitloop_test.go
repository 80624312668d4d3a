package machine_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/hostinfo"
	"github.com/gonest/gonest/internal/exitloop"
	"github.com/gonest/gonest/kvm/kvmtest"
	"github.com/gonest/gonest/machine"
	"github.com/gonest/gonest/window"
)

// runLoop runs workload k of n iterations as a tiny guest and returns its
// window, scenario start to scenario end, as gonest -window measures it.
func runLoop(t *testing.T, k exitloop.Kind, n uint32) (window.Result, *machine.Machine) {
	t.Helper()
	kvmtest.Open(t).Close()
	elf, err := exitloop.ELF(k, n)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), string(k)+".elf")
	require.NoError(t, os.WriteFile(path, elf, 0o644))
	var rec *window.Recorder
	cfg := machine.Config{Kernel: path, MemSize: exitloop.MemorySize(k, n), CPUs: 1, ConsoleOut: io.Discard,
		Timeout: 2 * time.Minute, OnMarker: func(mk machine.Marker) { rec.OnMarker(mk) }}
	m, err := machine.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	spec := window.Spec{Open: uint8(guestabi.MarkerScenarioStart), Close: uint8(guestabi.MarkerScenarioEnd)}
	rec = window.New(spec, m.Counters, nil, "no trace in this test")
	m.Counters() // opens the statistics fds before the vCPU runs
	out := m.Run(context.Background())
	require.Equal(t, 0, out.Code, "the loop ends by writing 0 to the exit port: %v", out)
	res := rec.Results()
	require.Len(t, res, 1, "one window")
	require.True(t, res[0].Complete, "closed by the end marker")
	require.True(t, res[0].KVM.Available, "KVM statistics: %s", res[0].KVM.Reason)
	return res[0], m
}

// TestExitLoops proves each workload of the exit-multiplication
// experiment exits as it says, one level down, from gonest's own counters
// in the window between its markers. The closing marker is one more port
// write, in the window. On hardware KVM (in the lab's H, and nested in G1)
// every iteration is one exit of its kind; on kvm_pvm, ring 0 runs in
// KVM's instruction emulator, so CPUID, WRMSR and the page-touching store
// never leave it and insn_emulation is what counts them.
func TestExitLoops(t *testing.T) {
	const n = 200
	// slack allows for what else happens in a window besides host
	// interrupts, which are left out by counting exits - irq_exits.
	const slack = 64 + n/8
	backend := hostinfo.DetectBackend(hostinfo.Root())
	hardware := backend == hostinfo.BackendAMD || backend == hostinfo.BackendIntel
	between := func(t *testing.T, what string, got, lo, hi int64) {
		t.Helper()
		assert.GreaterOrEqual(t, got, lo, what)
		assert.LessOrEqual(t, got, hi, what)
	}
	// ownExits are the window's exits that are not host interrupts, whose
	// number follows the time the loop takes, not the loop.
	ownExits := func(res window.Result) int64 {
		return res.KVM.VCPUTotal("exits") - res.KVM.VCPUTotal("irq_exits")
	}
	tests := []struct {
		kind  exitloop.Kind
		check func(t *testing.T, res window.Result, m *machine.Machine)
	}{
		{exitloop.PIO, func(t *testing.T, res window.Result, m *machine.Machine) {
			assert.Equal(t, int64(n+1), res.Exits["KVM_EXIT_IO"], "one OUT per iteration reaches gonest")
			if hardware {
				assert.Equal(t, int64(n+1), res.KVM.VCPUTotal("io_exits"))
			}
		}},
		{exitloop.MMIO, func(t *testing.T, res window.Result, m *machine.Machine) {
			assert.Equal(t, int64(n), res.Exits["KVM_EXIT_MMIO"], "one store per iteration reaches gonest")
			assert.Equal(t, int64(n), res.KVM.VCPUTotal("mmio_exits"))
		}},
		{exitloop.CPUID, nil},
		{exitloop.MSR, nil},
		{exitloop.HLT, func(t *testing.T, res window.Result, m *machine.Machine) {
			assert.Equal(t, int64(n), res.KVM.VCPUTotal("halt_exits"), "one HLT per iteration")
			if hardware {
				// HLT and EOI, and the interrupt window before the timer's
				// interrupt: the EOI write exits too unless APICv or AVIC
				// accelerates it.
				between(t, "exits - irq_exits", ownExits(res), 2*n, 4*n+slack)
			}
		}},
		{exitloop.PF, func(t *testing.T, res window.Result, m *machine.Machine) {
			for i := range uint64(n) {
				b, err := m.Memory().Slice(exitloop.FreshBase+i*4096, 1)
				require.NoError(t, err)
				require.Equal(t, byte(exitloop.PFByte), b[0], "page %d was touched", i)
			}
			b, err := m.Memory().Slice(exitloop.FreshBase+n*4096, 1)
			require.NoError(t, err)
			assert.Zero(t, b[0], "the page after the last was not")
			if hardware {
				// One nested page fault per fresh page, or per 2 MiB where
				// the host backs guest RAM with huge pages.
				between(t, "pf_fixed", res.KVM.VCPUTotal("pf_fixed"), n*4096/(2<<20), n+slack)
			}
		}},
		{exitloop.Spin, func(t *testing.T, res window.Result, m *machine.Machine) {
			if hardware {
				between(t, "exits - irq_exits", ownExits(res), 1, slack)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			res, m := runLoop(t, tt.kind, n)
			t.Logf("%s on %s: %.1f ms, userspace exits %v, KVM %v", tt.kind, backend, res.DurationMs, res.Exits, res.KVM.VCPUs)
			if tt.kind != exitloop.PIO {
				assert.Equal(t, int64(1), res.Exits["KVM_EXIT_IO"], "only the closing marker reaches gonest as port I/O")
			}
			switch tt.kind {
			case exitloop.CPUID, exitloop.MSR:
				if hardware {
					between(t, "exits - irq_exits", ownExits(res), n+1, n+1+slack)
				}
			}
			if backend == hostinfo.BackendPVM && tt.kind != exitloop.PIO && tt.kind != exitloop.MMIO {
				assert.GreaterOrEqual(t, res.KVM.VCPUTotal("insn_emulation"), int64(2*n), "KVM emulated each iteration's instructions")
			}
			if tt.check != nil {
				tt.check(t, res, m)
			}
		})
	}
}

// TestExitLoopZeroIterations: a loop of zero iterations runs nothing
// between its markers, the window's fixed cost.
func TestExitLoopZeroIterations(t *testing.T) {
	for _, k := range exitloop.Kinds {
		t.Run(string(k), func(t *testing.T) {
			res, _ := runLoop(t, k, 0)
			assert.Equal(t, int64(1), res.Exits["KVM_EXIT_IO"], "the closing marker only")
			assert.Zero(t, res.Exits["KVM_EXIT_MMIO"])
		})
	}
}
