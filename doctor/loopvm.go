package doctor

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gonest/gonest/guestmem"
	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/vcpu"
)

// Guest physical layout of the timing guest.
const (
	loopGDT  = 0x0500  // vcpu.FlatGDT
	loopCode = 0x1000  // loopGuest, entered here
	loopPML4 = 0x2000  // identity page tables: PML4, PDPT, PD with one 2 MiB user page
	loopPDPT = 0x3000  //
	loopPD   = 0x4000  //
	loopRAM  = 0x10000 // 64 KiB of RAM at 0
)

// Page table entry bits of the timing guest's identity map.
const (
	ptePresent  = 1 << 0 // P: present
	pteWritable = 1 << 1 // R/W: writable
	pteUser     = 1 << 2 // U/S: reachable from CPL 3
	ptePageSize = 1 << 7 // PS: in a page directory entry, maps a 2 MiB page
)

// loopGuest counts RCX down to zero, then spins. The VMM starts it with
// RCX = loopStartRCX, which it cannot count down in any probe window, stops
// it after a fixed time and reads RCX back: the iterations done are
// loopStartRCX - RCX. The same bytes run at CPL 0 and CPL 3.
var loopGuest = []byte{
	0x48, 0xff, 0xc9, // 0x0000 1: dec %rcx
	0x75, 0xfb, // 0x0003 jnz 1b
	0xeb, 0xfe, // 0x0005 2: jmp 2b
}

// loopStartRCX is the timing guest's initial count: at 0.1 ns an iteration
// it would take decades.
const loopStartRCX = 1 << 62

// loopVM is the timing guest: a VM with one vCPU and 64 KiB of RAM, in
// long mode with a flat GDT and one identity-mapped 2 MiB user page.
type loopVM struct {
	vm    *kvm.VM
	kv    *kvm.VCPU
	mem   *guestmem.Memory
	v     *vcpu.VCPU
	sregs kvm.Sregs // long mode, CPL 0
}

func newLoopVM(sys *kvm.System) (l *loopVM, err error) {
	l = &loopVM{}
	defer func() {
		if err != nil {
			_ = l.close()
			err = fmt.Errorf("timing guest: %w", err)
		}
	}()
	if l.vm, err = sys.CreateVM(); err != nil {
		return nil, err
	}
	if l.mem, err = guestmem.Map(guestmem.Range{GPA: 0, Size: loopRAM}); err != nil {
		return nil, err
	}
	r := l.mem.Regions()[0]
	if err = l.vm.SetUserMemoryRegion(0, 0, r.GPA, uint64(len(r.Data)), r.HostAddr()); err != nil {
		return nil, err
	}
	if err = writeLoopImage(l.mem); err != nil {
		return nil, err
	}
	if l.kv, err = l.vm.CreateVCPU(0); err != nil {
		return nil, err
	}
	cpuid, err := sys.GetSupportedCPUID()
	if err != nil {
		return nil, err
	}
	if err = l.kv.SetCPUID2(cpuid); err != nil {
		return nil, err
	}
	if l.sregs, err = l.kv.GetSregs(); err != nil {
		return nil, err
	}
	vcpu.SetLongMode(&l.sregs, loopGDT, loopPML4)
	l.v = vcpu.New(l.kv, vcpu.Config{})
	return l, nil
}

// writeLoopImage writes the code, the GDT and the identity page tables.
func writeLoopImage(mem *guestmem.Memory) error {
	if _, err := mem.WriteAt(loopGuest, loopCode); err != nil {
		return err
	}
	if _, err := mem.WriteAt(vcpu.EncodeGDT(vcpu.FlatGDT()), loopGDT); err != nil {
		return err
	}
	table := uint64(ptePresent | pteWritable | pteUser)
	for _, e := range []struct{ at, val uint64 }{
		{loopPML4, loopPDPT | table},
		{loopPDPT, loopPD | table},
		{loopPD, 0 | table | ptePageSize},
	} {
		if err := mem.PutUint64(e.at, e.val); err != nil {
			return err
		}
	}
	return nil
}

// run lets the loop run at privilege level cpl (0 or 3) for about window,
// stops it, and returns how many iterations it did, with the vCPU thread's
// CPU time and the wall time of the run.
func (l *loopVM) run(cpl int, window time.Duration) (LoopRun, error) {
	if window <= 0 {
		return LoopRun{}, fmt.Errorf("timing guest: window %v is not positive", window)
	}
	sregs := l.sregs
	// IF=1, though the VM has no interrupt controller to interrupt the
	// guest: a host whose VMX leaves external interrupts masked for a
	// guest with IF=0 (Bochs 2.7, see kvmtest.RequireStopWithIFClear) never
	// leaves this loop, and the doctor would hang instead of timing it.
	regs := kvm.Regs{RIP: loopCode, RCX: loopStartRCX, RFLAGS: vcpu.RFLAGSFixed | vcpu.RFLAGSIF}
	switch cpl {
	case 0:
	case 3:
		vcpu.SetUserMode(&sregs)
	default:
		return LoopRun{}, fmt.Errorf("timing guest: CPL %d: want 0 or 3", cpl)
	}
	if err := l.kv.SetSregs(sregs); err != nil {
		return LoopRun{}, fmt.Errorf("timing guest: %w", err)
	}
	if err := l.kv.SetRegs(regs); err != nil {
		return LoopRun{}, fmt.Errorf("timing guest: %w", err)
	}

	// vcpu.Run keeps to this OS thread, so the thread's CPU clock measures
	// the guest's run and not the time the thread waited for a CPU on a
	// busy host.
	// The wall interval encloses the CPU interval, so that the CPU figure
	// can never exceed the wall figure by the few microseconds of setup
	// between the clock reads.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := time.Now()
	cpu0, err := threadCPUTime()
	if err != nil {
		return LoopRun{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), window)
	defer cancel()
	action, err := l.v.Run(ctx)
	if err != nil {
		return LoopRun{}, fmt.Errorf("timing guest at CPL %d: %w", cpl, err)
	}
	cpu1, err := threadCPUTime()
	if err != nil {
		return LoopRun{}, err
	}
	wall := time.Since(start)
	if action != vcpu.ActionInterrupted {
		return LoopRun{}, fmt.Errorf("timing guest at CPL %d: stopped by itself (%v)", cpl, action)
	}
	got, err := l.kv.GetRegs()
	if err != nil {
		return LoopRun{}, fmt.Errorf("timing guest: %w", err)
	}
	if got.RCX > loopStartRCX {
		return LoopRun{}, fmt.Errorf("timing guest at CPL %d: RCX %#x is above its start %#x", cpl, got.RCX, uint64(loopStartRCX))
	}
	return LoopRun{Iterations: loopStartRCX - got.RCX, CPU: cpu1 - cpu0, Wall: wall}, nil
}

// threadCPUTime is the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID).
func threadCPUTime() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, fmt.Errorf("clock_gettime(CLOCK_THREAD_CPUTIME_ID): %w", err)
	}
	return time.Duration(ts.Nano()), nil
}

func (l *loopVM) close() error {
	var errs []error
	if l.kv != nil {
		errs = append(errs, l.kv.Close())
	}
	if l.vm != nil {
		errs = append(errs, l.vm.Close())
	}
	if l.mem != nil {
		errs = append(errs, l.mem.Close())
	}
	return errors.Join(errs...)
}
