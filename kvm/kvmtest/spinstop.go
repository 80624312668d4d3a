package kvmtest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gonest/gonest/guestmem"
	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/vcpu"
)

// Stopping a guest that spins without exiting.
//
// vcpu.VCPU.Run stops a guest by signalling its thread, and the signal
// takes effect once the CPU leaves the guest. A guest that never exits by
// itself leaves only when a host interrupt forces a VM exit. VMX forces
// one whatever the guest's RFLAGS.IF when the VM-execution control
// "external-interrupt exiting" is set (SDM Vol. 3C 26.2, "Other Causes of
// VM Exits"), and KVM always sets it (arch/x86/kvm/vmx/vmx.c,
// setup_vmcs_config); SVM does the same through the INTR intercept
// (APM Vol. 2 15.21.1).
//
// Bochs 2.7's VMX does not, for a guest that runs with IF=0: VM entry
// loads the guest's RFLAGS and re-evaluates which interrupts are masked
// (bochs/cpu/vmx.cc, VMenterLoadCheckGuestState calling
// handleCpuContextChange and so handleInterruptMaskChange) before it marks
// the CPU as in the guest (in_vmx_guest = 1 in VMLAUNCH), so IF=0 masks
// every external interrupt as it would outside VMX, and nothing unmasks
// them until the guest changes IF. Such a guest runs until it exits by
// itself, and no VMM on that platform can stop it.
//
// RequireStopWithIFClear tells the two cases apart by measurement, so a
// test of a guest that spins forever with IF=0 runs where a stop can
// reach it, and skips, saying why, where it cannot, instead of hanging.

// spinStopGuest, in real mode, spins until the TSC passes its start plus
// ESI:EDI, then halts. The inner loop counts down ECX so that the guest
// spends most of its time in plain ALU instructions, not in RDTSC (which
// some KVMs emulate); ESI counts the outer iterations.
var spinStopGuest = []byte{
	0x0f, 0x31, // 0x00 rdtsc
	0x66, 0x01, 0xf0, // 0x02 add %esi,%eax
	0x66, 0x11, 0xfa, // 0x05 adc %edi,%edx
	0x66, 0x89, 0xc3, // 0x08 mov %eax,%ebx (deadline, low)
	0x66, 0x89, 0xd5, // 0x0b mov %edx,%ebp (deadline, high)
	0x66, 0x31, 0xf6, // 0x0e xor %esi,%esi
	0x66, 0x46, // 0x11 outer: inc %esi
	0x66, 0xb9, 0x00, 0x00, 0x10, 0x00, // 0x13 mov $0x100000,%ecx
	0x66, 0x49, // 0x19 inner: dec %ecx
	0x75, 0xfc, // 0x1b jnz inner
	0x0f, 0x31, // 0x1d rdtsc
	0x66, 0x39, 0xea, // 0x1f cmp %ebp,%edx
	0x72, 0xed, // 0x22 jb outer
	0x77, 0x05, // 0x24 ja done
	0x66, 0x39, 0xd8, // 0x26 cmp %ebx,%eax
	0x72, 0xe6, // 0x29 jb outer
	0xf4,       // 0x2b done: hlt
	0xeb, 0xfd, // 0x2c jmp done
}

// Where the probe guest lives.
const (
	spinStopCode = 0x1000
	spinStopRAM  = 0x10000
)

// spinStopDeadline is how long, in guest TSC time, the probe guest spins
// before it halts by itself. A stop that works lands within milliseconds;
// where it does not, the probe costs this much guest time.
const spinStopDeadline = 500 * time.Millisecond

// spinStopCancelAfter is how long the probe lets the guest spin before it
// cancels Run.
const spinStopCancelAfter = 20 * time.Millisecond

// SpinRun is one probe run: a guest spinning in a bounded loop, and Run's
// context cancelled shortly after it started.
type SpinRun struct {
	// Stopped is true when Run returned vcpu.ActionInterrupted: the stop
	// reached the guest before its deadline. False means the guest ran to
	// its HLT.
	Stopped bool
	// Took is the time from the cancel to Run's return.
	Took time.Duration
	// Outer is how many outer loop iterations (2^20 inner ones each) the
	// guest ran.
	Outer uint32
	// Exits holds KVM's vCPU statistics that count exits (exits,
	// irq_exits, signal_exits, ...) as they grew during the run; nil where
	// KVM has no binary statistics. String shows those that grew.
	Exits map[string]uint64
}

func (r SpinRun) String() string {
	how := "ran to its deadline"
	if r.Stopped {
		how = "stopped"
	}
	s := fmt.Sprintf("%s %v after the cancel, %d outer iterations", how, r.Took.Round(time.Millisecond), r.Outer)
	if r.Exits != nil {
		keys := make([]string, 0, len(r.Exits))
		for k, n := range r.Exits {
			if n != 0 {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s +%d", k, r.Exits[k]))
		}
		s += ", KVM " + strings.Join(parts, " ")
	}
	return s
}

// SpinStop is what ProbeSpinStop measured, with RFLAGS.IF set and clear.
type SpinStop struct {
	IFSet, IFClear SpinRun
}

var spinStop struct {
	once sync.Once
	res  SpinStop
	err  error
}

// ProbeSpinStop runs the probe guest twice on a VM of its own, once with
// RFLAGS.IF=1 and once with IF=0, cancelling vcpu.Run 20 ms into each. It
// runs once per process; later calls return the first result.
func ProbeSpinStop() (SpinStop, error) {
	spinStop.once.Do(func() {
		spinStop.res, spinStop.err = probeSpinStop()
	})
	return spinStop.res, spinStop.err
}

func probeSpinStop() (SpinStop, error) {
	sys, err := kvm.Open()
	if err != nil {
		return SpinStop{}, err
	}
	defer sys.Close()
	var res SpinStop
	if res.IFSet, err = spinOnce(sys, true); err != nil {
		return res, fmt.Errorf("spin with IF=1: %w", err)
	}
	if res.IFClear, err = spinOnce(sys, false); err != nil {
		return res, fmt.Errorf("spin with IF=0: %w", err)
	}
	return res, nil
}

// spinOnce runs the probe guest once on a fresh VM.
func spinOnce(sys *kvm.System, ifSet bool) (SpinRun, error) {
	vm, err := sys.CreateVM()
	if err != nil {
		return SpinRun{}, err
	}
	defer vm.Close()
	mem, err := guestmem.Map(guestmem.Range{GPA: 0, Size: spinStopRAM})
	if err != nil {
		return SpinRun{}, err
	}
	defer mem.Close()
	r := mem.Regions()[0]
	if err := vm.SetUserMemoryRegion(0, 0, r.GPA, uint64(len(r.Data)), r.HostAddr()); err != nil {
		return SpinRun{}, err
	}
	if _, err := mem.WriteAt(spinStopGuest, spinStopCode); err != nil {
		return SpinRun{}, err
	}
	kv, err := vm.CreateVCPU(0)
	if err != nil {
		return SpinRun{}, err
	}
	defer kv.Close()
	// The CPUID first: KVM checks special registers against it.
	cpuid, err := sys.GetSupportedCPUID()
	if err != nil {
		return SpinRun{}, err
	}
	if err := kv.SetCPUID2(cpuid); err != nil {
		return SpinRun{}, err
	}
	khz, err := kv.GetTSCKHz()
	if err != nil {
		return SpinRun{}, err
	}
	sregs, err := kv.GetSregs()
	if err != nil {
		return SpinRun{}, err
	}
	vcpu.SetRealMode(&sregs)
	if err := kv.SetSregs(sregs); err != nil {
		return SpinRun{}, err
	}
	ticks := uint64(khz) * uint64(spinStopDeadline/time.Millisecond)
	regs := kvm.Regs{RIP: spinStopCode, RFLAGS: vcpu.RFLAGSFixed, RSI: ticks & 0xffff_ffff, RDI: ticks >> 32}
	if ifSet {
		regs.RFLAGS |= vcpu.RFLAGSIF
	}
	if err := kv.SetRegs(regs); err != nil {
		return SpinRun{}, err
	}

	before := exitStats(kv)
	// No bound on the wait: the guest halts at its deadline at the latest.
	res, _ := RunAndStop(vcpu.New(kv, vcpu.Config{}), spinStopCancelAfter, 0)
	if res.Err != nil {
		return SpinRun{}, res.Err
	}
	run := SpinRun{Took: res.Latency}
	switch {
	case res.Action == vcpu.ActionInterrupted && !res.Early:
		run.Stopped = true
	case res.Action == vcpu.ActionHalt:
	default:
		return run, fmt.Errorf("guest ended with %v (by itself: %v), want a stop or its HLT", res.Action, res.Early)
	}
	if after := exitStats(kv); before != nil && after != nil {
		run.Exits = map[string]uint64{}
		for k, a := range after {
			run.Exits[k] = a - before[k]
		}
	}
	got, err := kv.GetRegs()
	if err != nil {
		return run, err
	}
	run.Outer = uint32(got.RSI)
	return run, nil
}

// Stopped is how a vCPU run that RunAndStop cancelled ended.
type Stopped struct {
	Action vcpu.Action
	Err    error
	// Latency is the time from the cancel to Run's return.
	Latency time.Duration
	// Early is set when Run returned before the cancel, by itself.
	Early bool
}

// RunAndStop runs v on a goroutine of its own, cancels Run's context after
// spin, and waits for Run to return: at most wait, or without a bound when
// wait is 0. ok is false when Run was still running after wait; its
// goroutine then outlives the call.
func RunAndStop(v *vcpu.VCPU, spin, wait time.Duration) (s Stopped, ok bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		action vcpu.Action
		err    error
		at     time.Time
	}
	done := make(chan result, 1)
	go func() {
		a, err := v.Run(ctx)
		done <- result{a, err, time.Now()}
	}()
	timer := time.NewTimer(spin)
	defer timer.Stop()
	select {
	case r := <-done:
		return Stopped{Action: r.action, Err: r.err, Early: true}, true
	case <-timer.C:
	}
	cancelled := time.Now()
	cancel()
	var bound <-chan time.Time
	if wait > 0 {
		bound = time.After(wait)
	}
	select {
	case r := <-done:
		return Stopped{Action: r.action, Err: r.err, Latency: r.at.Sub(cancelled)}, true
	case <-bound:
		return Stopped{}, false
	}
}

// exitStats reads the vCPU's exit counters from KVM's binary statistics,
// or returns nil where KVM has none.
func exitStats(kv *kvm.VCPU) map[string]uint64 {
	st, err := kv.StatsFD()
	if err != nil {
		return nil
	}
	defer st.Close()
	all, err := st.Read()
	if err != nil {
		return nil
	}
	out := map[string]uint64{}
	for name, v := range all {
		if (name == "exits" || strings.HasSuffix(name, "_exits")) && len(v) == 1 {
			out[name] = v[0]
		}
	}
	return out
}

// RequireStopWithIFClear is for a test whose guest spins forever with
// RFLAGS.IF=0 and never exits: it returns where cancelling vcpu.Run stops
// such a guest, and skips the test, with the measured reason, where the
// platform never interrupts it (Bochs 2.7's VMX), since the test would
// hang there. It fails the test when even a guest with IF=1 could not be
// stopped: that is gonest's kick failing, not the platform.
func RequireStopWithIFClear(t testing.TB) {
	t.Helper()
	Open(t) // skips or fails, with the reason, without KVM
	res, err := ProbeSpinStop()
	judgeSpinStop(t, res, err)
}

// judgeSpinStop ends t as RequireStopWithIFClear says, from a probe's
// result.
func judgeSpinStop(t testing.TB, res SpinStop, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("spin-stop probe: %v", err)
	}
	t.Logf("spin-stop probe: with IF=1 %v; with IF=0 %v", res.IFSet, res.IFClear)
	switch {
	case !res.IFSet.Stopped:
		t.Fatalf("cancelling vcpu.Run did not stop a guest spinning with IF=1 (%v): gonest's vCPU kick is broken", res.IFSet)
	case !res.IFClear.Stopped:
		t.Skipf("skipping: this platform does not interrupt a guest spinning with RFLAGS.IF=0, so no VMM can stop it "+
			"(with IF=1: %v; with IF=0: %v); Bochs 2.7's VMX masks external interrupts for such a guest", res.IFSet, res.IFClear)
	}
}
