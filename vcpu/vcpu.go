package vcpu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gonest/gonest/devices"
	"github.com/gonest/gonest/kvm"
	"golang.org/x/sys/unix"
)

// kickSignal is sent to a vCPU's thread to make KVM_RUN return.
//
// It is SIGURG, the signal Go's runtime itself uses for asynchronous
// preemption. Three properties make it the right one:
//   - the runtime already has a handler for it on every thread, so no
//     os/signal setup is needed and the signal is never fatal;
//   - every Go program must tolerate spurious SIGURGs, so a late kick that
//     lands on a thread that has since moved on harms nothing;
//   - a signal pending on a thread inside KVM_RUN makes KVM leave the guest
//     and return EINTR, which Go does not restart (KVM returns -EINTR, not
//     -ERESTARTSYS, so SA_RESTART does not apply).
//
// The signal alone is racy (it can arrive just before the thread enters
// KVM_RUN), so a kick first sets kvm_run.immediate_exit, which makes the
// next KVM_RUN return EINTR without entering the guest, then signals; and
// it repeats both every kickInterval until the run loop has stopped.
const kickSignal = unix.SIGURG

// kickInterval is how often a stop request re-kicks a vCPU that has not
// stopped yet.
const kickInterval = time.Millisecond

// Config is what a vCPU needs from the board.
type Config struct {
	PIO  *devices.Bus // port I/O bus; nil means nothing is mapped
	MMIO *devices.Bus // MMIO bus; nil means nothing is mapped
	// Stats receives exit counts; nil allocates a private one (see
	// VCPU.Stats).
	Stats *Stats
	// Logger receives rare events (fatal exits); nil discards them.
	Logger *slog.Logger
}

// VCPU runs one KVM vCPU: it loops on KVM_RUN, decodes each exit and
// dispatches it to the buses until something needs the board.
type VCPU struct {
	kv      *kvm.VCPU
	run     *kvm.Run
	handler Handler
	dec     Decoder
	log     *slog.Logger
	pid     int

	mu  sync.Mutex   // one Run at a time
	tid atomic.Int32 // OS thread inside Run, 0 when not running

	// Requests of Inspect, served between two KVM_RUNs (inspect.go).
	inspectMu  sync.Mutex
	inspects   []*inspectRequest
	inspecting atomic.Int32 // Inspects holding mu, or about to
	// kickMu is held for reading by an Inspect kicking the thread, and
	// taken by Run to clear tid, so that no kick touches the run page once
	// Run has returned.
	kickMu sync.RWMutex
}

// New wraps a KVM vCPU.
func New(kv *kvm.VCPU, cfg Config) *VCPU {
	if cfg.Stats == nil {
		cfg.Stats = new(Stats)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &VCPU{
		kv:      kv,
		run:     kv.RunPage(),
		handler: Handler{PIO: cfg.PIO, MMIO: cfg.MMIO, Stats: cfg.Stats},
		log:     cfg.Logger.With("vcpu", kv.ID()),
		pid:     unix.Getpid(),
	}
}

// ID returns the vCPU id.
func (v *VCPU) ID() int { return v.kv.ID() }

// KVM returns the underlying KVM handle, for register setup.
func (v *VCPU) KVM() *kvm.VCPU { return v.kv }

// Stats returns the exit counters.
func (v *VCPU) Stats() *Stats { return v.handler.Stats }

// Run runs the guest on the calling goroutine, locked to its OS thread,
// until the guest needs the board or ctx is done. It returns:
//
//   - ActionHalt, ActionPoweroff or ActionReset with a nil error when the
//     guest halted (HLT reached userspace) or asked to power off or reset;
//   - ActionInterrupted with a nil error when ctx was done;
//   - a *FatalError for a triple fault, failed entry, KVM internal error or
//     unknown exit, with the registers at the time;
//   - another error when an ioctl failed.
//
// Run may be called again to continue (after ActionHalt, say). Cancelling
// ctx stops a running guest within milliseconds, even one spinning in code
// KVM emulates: see kickSignal.
func (v *VCPU) Run(ctx context.Context) (Action, error) {
	if !v.mu.TryLock() {
		if v.inspecting.Load() == 0 {
			return ActionResume, fmt.Errorf("vcpu %d: Run called while already running", v.ID())
		}
		v.mu.Lock() // an Inspect serving its request: a moment
	}
	defer v.mu.Unlock()
	if ctx.Err() != nil {
		return ActionInterrupted, nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	stopped := make(chan struct{})
	v.tid.Store(int32(unix.Gettid()))
	kicked := make(chan struct{})
	stopKick := context.AfterFunc(ctx, func() {
		defer close(kicked)
		v.kickUntil(stopped)
	})
	defer func() {
		v.kickMu.Lock() // an Inspect's kick in flight ends first
		v.tid.Store(0)
		v.kickMu.Unlock()
		close(stopped)
		if !stopKick() {
			// The kicker started: wait until it has stopped touching the
			// run page, which the caller may unmap as soon as Run returns.
			<-kicked
		}
		// A kick that raced with the return may have left immediate_exit set;
		// clear it so the next Run starts clean (it clears it again on EINTR).
		v.run.SetImmediateExit(false)
	}()
	return v.loop(ctx)
}

func (v *VCPU) loop(ctx context.Context) (Action, error) {
	stats := v.handler.Stats
	done := ctx.Done()
	for {
		if err := v.kv.Run(); err != nil {
			if errors.Is(err, unix.EAGAIN) {
				// An AP not started yet (KVM_MP_STATE_UNINITIALIZED)
				// sleeps in KVM_RUN until INIT/SIPI or another event
				// arrives, then returns EAGAIN: enter again, as QEMU
				// does. A stop request comes back as EINTR instead.
				if ctx.Err() != nil {
					return ActionInterrupted, nil
				}
				continue
			}
			if !errors.Is(err, unix.EINTR) {
				return ActionResume, fmt.Errorf("vcpu %d: %w", v.ID(), err)
			}
			// A signal or immediate_exit. Only a done ctx stops the loop;
			// an Inspect is served, and anything else (a stray signal)
			// just re-enters the guest.
			stats.countExit(kvm.ExitIntr)
			if ctx.Err() != nil {
				return ActionInterrupted, nil
			}
			v.run.SetImmediateExit(false)
			if v.pendingInspects() {
				v.serveInspects()
			}
			continue
		}
		stats.countExit(v.run.ExitReason())
		exit, err := v.dec.Decode(v.run)
		if err != nil {
			return ActionResume, v.fatal(&FatalError{Exit: cloneExit(exit), Err: fmt.Errorf("%w: %w", ErrMalformedExit, err)})
		}
		action, err := v.handler.Dispatch(exit)
		if err != nil {
			var fe *FatalError
			if errors.As(err, &fe) {
				return action, v.fatal(fe)
			}
			return action, fmt.Errorf("vcpu %d: %w", v.ID(), err)
		}
		switch action {
		case ActionResume:
			// A stop requested while this exit was handled (a device that
			// ends the run, a timeout) is honored before the guest runs
			// again. The kick that follows a cancel arrives asynchronously,
			// and a guest that then never exits leaves KVM_RUN only through
			// a host interrupt, which a platform may never deliver to a
			// guest with IF=0 (see kvmtest.RequireStopWithIFClear).
			select {
			case <-done:
				return ActionInterrupted, nil
			default:
			}
			continue
		case ActionInterrupted:
			if ctx.Err() != nil {
				return ActionInterrupted, nil
			}
			v.run.SetImmediateExit(false)
			if v.pendingInspects() {
				v.serveInspects()
			}
			continue
		}
		return action, nil
	}
}

// fatal completes a FatalError with the vCPU id and registers.
func (v *VCPU) fatal(fe *FatalError) error {
	fe.VCPU = v.ID()
	if regs, err := v.kv.GetRegs(); err == nil {
		fe.Regs = &regs
	}
	if sregs, err := v.kv.GetSregs(); err == nil {
		fe.Sregs = &sregs
	}
	// The caller reports the error; this is for -v traces.
	v.log.Debug("fatal exit", "err", fe.Error())
	return fe
}

// kickUntil makes a running KVM_RUN return and keeps doing so until stopped
// is closed (Run has returned). It runs on its own goroutine
// (context.AfterFunc).
func (v *VCPU) kickUntil(stopped <-chan struct{}) {
	t := time.NewTicker(kickInterval)
	defer t.Stop()
	warned := false
	for {
		v.run.SetImmediateExit(true)
		if tid := v.tid.Load(); tid != 0 {
			// ESRCH only means the thread is gone, which is what we want.
			err := unix.Tgkill(v.pid, int(tid), kickSignal)
			if err != nil && !errors.Is(err, unix.ESRCH) && !warned {
				v.log.Warn("cannot signal the vcpu thread; stopping relies on immediate_exit", "tid", tid, "err", err)
				warned = true
			}
		}
		select {
		case <-stopped:
			return
		case <-t.C:
		}
	}
}
