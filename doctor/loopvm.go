package doctor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gonest/gonest/devices"
	"github.com/gonest/gonest/guestmem"
	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/vcpu"
)

// Guest physical layout of the timing guest.
const (
	loopGDT      = 0x0500  // vcpu.FlatGDT
	loopCode     = 0x1000  // loopGuest, entered here
	loopPML4     = 0x2000  // identity page tables: PML4, PDPT, PD with one 2 MiB user page
	loopPDPT     = 0x3000  //
	loopPD       = 0x4000  //
	loopRAM      = 0x10000 // 64 KiB of RAM at 0
	loopDonePort = 0x80    // the guest writes here when its loop is done
)

// Page table entry bits of the timing guest's identity map.
const (
	ptePresent  = 1 << 0 // P: present
	pteWritable = 1 << 1 // R/W: writable
	pteUser     = 1 << 2 // U/S: reachable from CPL 3
	ptePageSize = 1 << 7 // PS: in a page directory entry, maps a 2 MiB page
)

// loopGuest counts RCX down to zero, tells the VMM it is done with an OUT
// to port DX (loopDonePort), then spins until the VMM stops it. The same
// bytes run at CPL 0 and CPL 3 (with IOPL 3, so OUT is allowed there).
var loopGuest = []byte{
	0x48, 0xff, 0xc9, // 0x0000 1: dec %rcx
	0x75, 0xfb, // 0x0003 jnz 1b
	0xee,       // 0x0005 out %al,(%dx)
	0xeb, 0xfe, // 0x0006 2: jmp 2b
}

// loopTimeout is the most one timed run may take before the doctor gives
// up on it. The adaptive probe asks for runs of a few milliseconds, so
// only a host far slower than any known one reaches it.
const loopTimeout = time.Second

// loopVM is the timing guest: a VM with one vCPU, 64 KiB of RAM in long
// mode, and a port device that notes when the loop is done.
type loopVM struct {
	vm    *kvm.VM
	kv    *kvm.VCPU
	mem   *guestmem.Memory
	v     *vcpu.VCPU
	done  *doneDevice
	sregs kvm.Sregs // long mode, CPL 0
}

func newLoopVM(sys *kvm.System) (l *loopVM, err error) {
	l = &loopVM{done: &doneDevice{}}
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
	pio := devices.NewBus("pio")
	if err = pio.Insert(l.done, loopDonePort, 1); err != nil {
		return nil, err
	}
	l.v = vcpu.New(l.kv, vcpu.Config{PIO: pio})
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

// run times n iterations of the loop at privilege level cpl (0 or 3).
func (l *loopVM) run(cpl int, n uint64) (time.Duration, error) {
	if n == 0 {
		return 0, fmt.Errorf("timing guest: zero iterations")
	}
	sregs := l.sregs
	regs := kvm.Regs{RIP: loopCode, RCX: n, RDX: loopDonePort, RFLAGS: vcpu.RFLAGSFixed}
	switch cpl {
	case 0:
	case 3:
		vcpu.SetUserMode(&sregs)
		regs.RFLAGS |= vcpu.RFLAGSIOPLMask // IOPL 3: OUT allowed at CPL 3
	default:
		return 0, fmt.Errorf("timing guest: CPL %d: want 0 or 3", cpl)
	}
	if err := l.kv.SetSregs(sregs); err != nil {
		return 0, fmt.Errorf("timing guest: %w", err)
	}
	if err := l.kv.SetRegs(regs); err != nil {
		return 0, fmt.Errorf("timing guest: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), loopTimeout)
	defer cancel()
	l.done.arm(cancel)
	start := time.Now()
	action, err := l.v.Run(ctx)
	if err != nil {
		return 0, fmt.Errorf("timing guest at CPL %d: %w", cpl, err)
	}
	if l.done.at.IsZero() {
		if action == vcpu.ActionInterrupted {
			return 0, fmt.Errorf("timing guest at CPL %d: %d iterations did not finish within %s", cpl, n, loopTimeout)
		}
		return 0, fmt.Errorf("timing guest at CPL %d: stopped with %v before finishing", cpl, action)
	}
	return l.done.at.Sub(start), nil
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

// doneDevice is the timing guest's "done" port. A write notes the time and
// stops the run (the guest spins after it). It is called on the vCPU's
// goroutine, inside vcpu.Run, so it needs no lock.
type doneDevice struct {
	at   time.Time
	stop context.CancelFunc
}

func (d *doneDevice) Name() string { return "doctor-done" }

func (d *doneDevice) arm(stop context.CancelFunc) {
	d.at, d.stop = time.Time{}, stop
}

func (d *doneDevice) Read(offset uint64, data []byte) {
	for i := range data {
		data[i] = 0xff
	}
}

func (d *doneDevice) Write(offset uint64, data []byte) {
	if d.at.IsZero() {
		d.at = time.Now()
	}
	if d.stop != nil {
		d.stop()
	}
}
