package machine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/devices"
	"github.com/gonest/gonest/devices/ide"
	"github.com/gonest/gonest/devices/pci"
	"github.com/gonest/gonest/devices/virtio/vconsole"
	"github.com/gonest/gonest/guestmem"
	"github.com/gonest/gonest/hostinfo"
	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/vcpu"
)

// Machine is a built VM, ready to Run.
type Machine struct {
	cfg  Config
	log  *slog.Logger
	sys  *kvm.System
	vm   *kvm.VM
	mem  *guestmem.Memory
	pio  *devices.Bus
	mmio *devices.Bus

	vcpus   []*vcpu.VCPU
	stats   *vcpu.Stats
	loaded  *boot.Loaded
	backend hostinfo.Backend
	policy  vcpu.CPUIDPolicy

	closers []func() error // released in reverse order by Close
	kstats  kvmStatsFiles  // statistics fds, opened on first use (counters.go)

	start    time.Time
	timeline *Timeline
	legacy   legacyDevices
	pci      *pci.Bus
	routes   *gsiRoutes
	intx     *sharedLines
	disks    []*virtioDisk
	ide      *ide.Controller // nil without if=ide disks
	ideSlot  int             // the IDE controller's PCI slot
	shares   []*share
	console  *console
	ports    []*vconsole.Port
	nextSlot int // the next free PCI slot (virtiodev.go)

	stopOnce   sync.Once
	stopped    chan struct{}
	outcome    Outcome
	badMessage sync.Once // a broken message line is logged once
}

// New builds the machine described by cfg. Errors caused by the user's
// input (missing or bad files, sizes) are *InputError.
func New(cfg Config) (_ *Machine, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Machine{
		cfg:      cfg,
		log:      log,
		pio:      devices.NewBus("pio"),
		mmio:     devices.NewBus("mmio"),
		stats:    new(vcpu.Stats),
		start:    time.Now(),
		stopped:  make(chan struct{}),
		timeline: newTimeline(time.Now()),
	}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()

	// Inputs first: a bad file is reported before /dev/kvm is touched.
	kernel, err := openInput("kernel", cfg.Kernel)
	if err != nil {
		return nil, err
	}
	defer kernel.Close()
	var initrd *inputFile
	if cfg.Initrd != "" {
		if initrd, err = openInput("initrd", cfg.Initrd); err != nil {
			return nil, err
		}
		defer initrd.Close()
	}
	if err := checkHostMemory(cfg.MemSize); err != nil {
		return nil, err
	}
	if err := m.openShares(); err != nil {
		return nil, err
	}
	// The header alone tells a bad kernel file; no need for /dev/kvm to say so.
	if _, err := boot.ParseKernel(kernel, kernel.size); err != nil {
		return nil, classifyLoadError(cfg, err)
	}

	path := cfg.KVMPath
	if path == "" {
		path = kvm.DevicePath
	}
	if m.sys, err = kvm.OpenPath(path); err != nil {
		return nil, err
	}
	m.closers = append(m.closers, m.sys.Close)
	m.backend = hostinfo.DetectBackend(hostinfo.Root())
	if err := m.createVM(); err != nil {
		return nil, err
	}
	if err := m.setupMemory(); err != nil {
		return nil, err
	}
	if err := m.setupDevices(); err != nil {
		return nil, err
	}
	if err := m.setupPCI(); err != nil {
		return nil, err
	}
	if err := m.setupDisks(); err != nil {
		return nil, err
	}
	if err := m.plugShares(); err != nil {
		return nil, err
	}
	if err := m.load(kernel, initrd); err != nil {
		return nil, err
	}
	if err := m.setupVCPUs(); err != nil {
		return nil, err
	}
	m.logBoard()
	return m, nil
}

// createVM creates the VM and the parts KVM wants before any vCPU: the TSS
// and identity-map pages (Intel's real-mode emulation needs them; AMD
// ignores them), the in-kernel irqchip and the PIT.
func (m *Machine) createVM() error {
	v, err := m.sys.GetAPIVersion()
	if err != nil {
		return err
	}
	if v != kvm.APIVersion {
		return fmt.Errorf("KVM API version %d, gonest needs %d", v, kvm.APIVersion)
	}
	for _, c := range []kvm.Cap{kvm.CapIRQChip, kvm.CapUserMemory, kvm.CapSetTSSAddr, kvm.CapPIT2, kvm.CapIOEventFD, kvm.CapIRQFD, kvm.CapIRQRouting, kvm.CapImmediateExit} {
		n, err := m.sys.CheckExtension(c)
		if err != nil {
			return err
		}
		if n <= 0 {
			return fmt.Errorf("host KVM lacks %s, which gonest needs", c)
		}
	}
	if m.vm, err = m.sys.CreateVM(); err != nil {
		return err
	}
	m.closers = append(m.closers, m.vm.Close)
	if err := m.vm.SetTSSAddr(boot.KVMTSSAddr); err != nil {
		return err
	}
	if err := m.vm.SetIdentityMapAddr(boot.KVMIdentityMapAddr); err != nil {
		return err
	}
	if err := m.vm.CreateIRQChip(); err != nil {
		return err
	}
	if err := m.vm.CreatePIT2(kvm.PITSpeakerDummy); err != nil {
		return err
	}
	return nil
}

// setupMemory maps guest RAM and gives each region to KVM as a slot.
func (m *Machine) setupMemory() error {
	ranges, err := boot.RAMRanges(m.cfg.MemSize)
	if err != nil {
		return &InputError{Err: fmt.Errorf("-m %s: %w", FormatSize(m.cfg.MemSize), err)}
	}
	if m.mem, err = guestmem.Map(ranges...); err != nil {
		return err
	}
	m.closers = append(m.closers, m.mem.Close)
	for slot, r := range m.mem.Regions() {
		if err := m.vm.SetUserMemoryRegion(uint32(slot), 0, r.GPA, uint64(len(r.Data)), r.HostAddr()); err != nil {
			return err
		}
	}
	return nil
}

// Stop ends the run with outcome o, unless it has already ended. It may be
// called from any goroutine, any number of times; the first call wins.
func (m *Machine) Stop(o Outcome) {
	m.stopOnce.Do(func() {
		m.outcome = o
		close(m.stopped)
	})
}

// Run runs the guest until something ends it and returns how it ended.
func (m *Machine) Run(ctx context.Context) Outcome {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if m.cfg.Timeout > 0 {
		t := time.AfterFunc(m.cfg.Timeout, func() {
			m.Stop(Outcome{Reason: ReasonTimeout, Code: ExitTimeout,
				Err: fmt.Errorf("guest still running after -timeout %s; stopped it", m.cfg.Timeout)})
		})
		defer t.Stop()
	}
	var wg sync.WaitGroup
	for _, v := range m.vcpus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.runVCPU(ctx, v)
		}()
	}
	select {
	case <-m.stopped:
	case <-ctx.Done():
		m.Stop(Outcome{Reason: ReasonSignal, Code: ExitInterrupt, Err: ctx.Err()})
	}
	cancel()
	wg.Wait()
	m.timeline.mark(EventVMStop, time.Now())
	if err := errors.Join(m.flushDisks(), m.closeShares()); err != nil && m.outcome.Code == ExitOK {
		m.outcome = Outcome{Reason: ReasonFatal, Code: ExitFailure, Err: err}
	}
	m.log.Debug("guest stopped", "reason", m.outcome.Reason.String(), "exit_code", m.outcome.Code,
		"ran", time.Since(m.start).Round(time.Millisecond).String())
	return m.outcome
}

// runVCPU runs one vCPU until the machine stops.
func (m *Machine) runVCPU(ctx context.Context, v *vcpu.VCPU) {
	if v.ID() == 0 {
		m.timeline.mark(EventFirstRun, time.Now())
	}
	for {
		action, err := v.Run(ctx)
		if err != nil {
			m.Stop(Outcome{Reason: ReasonFatal, Code: ExitFailure, Err: err})
			return
		}
		switch action {
		case vcpu.ActionPoweroff:
			m.Stop(Outcome{Reason: ReasonPoweroff, Code: ExitOK})
			return
		case vcpu.ActionReset:
			m.Stop(Outcome{Reason: ReasonReset, Code: ExitOK})
			return
		case vcpu.ActionInterrupted:
			return
		case vcpu.ActionHalt:
			// With the in-kernel LAPIC, HLT waits inside KVM_RUN; a HLT
			// that reaches userspace means the guest halted with nothing
			// that could wake it.
			m.Stop(Outcome{Reason: ReasonFatal, Code: ExitFailure,
				Err: fmt.Errorf("vcpu %d halted with interrupts off (HLT reached userspace)", v.ID())})
			return
		}
	}
}

// Close releases everything New acquired. It is safe to call more than once.
func (m *Machine) Close() error {
	var errs []error
	if err := m.flushDisks(); err != nil {
		errs = append(errs, err)
	}
	m.disks, m.ide = nil, nil
	if err := m.closeShares(); err != nil {
		errs = append(errs, err)
	}
	for _, v := range m.vcpus {
		if err := v.KVM().Close(); err != nil {
			errs = append(errs, err)
		}
	}
	m.vcpus = nil
	for i := len(m.closers) - 1; i >= 0; i-- {
		if err := m.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	m.closers = nil
	return errors.Join(errs...)
}

// Memory returns guest RAM.
func (m *Machine) Memory() *guestmem.Memory { return m.mem }

// VM returns the KVM VM handle.
func (m *Machine) VM() *kvm.VM { return m.vm }

// Loaded says where the kernel, initrd and tables were placed.
func (m *Machine) Loaded() *boot.Loaded { return m.loaded }

// Backend is the host KVM backend New detected.
func (m *Machine) Backend() hostinfo.Backend { return m.backend }

// NestedExposed says which extension the guest sees: "VMX", "SVM" or "".
func (m *Machine) NestedExposed() string { return m.policy.NestedExposed() }

// inputFile is an opened kernel or initrd.
type inputFile struct {
	*os.File
	size int64
}

// openInput opens a user-supplied file, turning every problem into a
// one-line *InputError that names it.
func openInput(what, path string) (*inputFile, error) {
	// O_NONBLOCK: opening a FIFO must not wait for a writer; the check
	// below then rejects it. It changes nothing for a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil, inputErrorf("%s %s: no such file", what, path)
		case errors.Is(err, os.ErrPermission):
			return nil, inputErrorf("%s %s: permission denied", what, path)
		}
		return nil, &InputError{Err: fmt.Errorf("%s %s: %w", what, path, err)}
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, &InputError{Err: fmt.Errorf("%s %s: %w", what, path, err)}
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, inputErrorf("%s %s: not a regular file", what, path)
	}
	if st.Size() == 0 {
		f.Close()
		return nil, inputErrorf("%s %s: file is empty", what, path)
	}
	return &inputFile{File: f, size: st.Size()}, nil
}
