package vcpu

import (
	"context"
	"errors"
	"time"

	"github.com/gonest/gonest/kvm"
	"golang.org/x/sys/unix"
)

// inspectRequest is a function to run on a vCPU while it is outside
// KVM_RUN, with its state complete.
type inspectRequest struct {
	fn   func(*kvm.VCPU)
	done chan struct{}
}

// ErrNotInspected is returned by Inspect when ctx ended before the vCPU
// could be stopped for it.
var ErrNotInspected = errors.New("vcpu not inspected: the request was cancelled before the vCPU left KVM_RUN")

// Inspect runs fn with the vCPU out of KVM_RUN, then lets the guest go
// on as if nothing happened. Use it to read state that only makes sense
// while the guest runs, such as KVM_GET_NESTED_STATE while the guest is
// running a guest of its own.
//
// A vCPU ioctl cannot run beside KVM_RUN (KVM holds the vCPU's mutex for
// the whole run), so when Run is active Inspect queues fn and kicks the
// vCPU the way a stop does (immediate_exit, then SIGURG to its thread,
// repeated every kickInterval). KVM_RUN returns EINTR with every pending
// I/O completed (KVM completes it before it checks for signals), the run
// loop calls fn on its own thread and enters the guest again. When no Run
// is active, fn runs at once on the caller's goroutine.
//
// fn must not call Run or Inspect. Inspect returns ErrNotInspected when
// ctx ends first; fn has then not run and never will.
func (v *VCPU) Inspect(ctx context.Context, fn func(*kvm.VCPU)) error {
	req := &inspectRequest{fn: fn, done: make(chan struct{})}
	v.inspectMu.Lock()
	v.inspects = append(v.inspects, req)
	v.inspectMu.Unlock()
	t := time.NewTicker(kickInterval)
	defer t.Stop()
	for {
		// Not running: serve it here, holding mu so that no Run starts
		// meanwhile (a Run that finds mu held by an Inspect waits for it).
		v.inspecting.Add(1)
		served := v.mu.TryLock()
		if served {
			v.serveInspects()
			v.mu.Unlock()
		}
		v.inspecting.Add(-1)
		v.kickMu.RLock() // Run does not return (nor the page go away) meanwhile
		if tid := v.tid.Load(); !served && tid != 0 {
			v.run.SetImmediateExit(true)
			// ESRCH: the thread left Run; the next round serves it here.
			_ = unix.Tgkill(v.pid, int(tid), kickSignal)
		}
		v.kickMu.RUnlock()
		select {
		case <-req.done:
			return nil
		case <-ctx.Done():
			if v.withdraw(req) {
				return ErrNotInspected
			}
			<-req.done // already taken: it is running now
			return nil
		case <-t.C:
		}
	}
}

// serveInspects runs the queued requests. The caller holds mu: it is the
// run loop, between two KVM_RUNs, or Inspect with no Run active.
func (v *VCPU) serveInspects() {
	v.inspectMu.Lock()
	reqs := v.inspects
	v.inspects = nil
	v.inspectMu.Unlock()
	for _, r := range reqs {
		r.fn(v.kv)
		close(r.done)
	}
}

// withdraw removes req from the queue, reporting whether it was still
// there.
func (v *VCPU) withdraw(req *inspectRequest) bool {
	v.inspectMu.Lock()
	defer v.inspectMu.Unlock()
	for i, r := range v.inspects {
		if r == req {
			v.inspects = append(v.inspects[:i], v.inspects[i+1:]...)
			return true
		}
	}
	return false
}

// pendingInspects reports whether a request waits, without locking for
// long: the run loop asks this after every EINTR.
func (v *VCPU) pendingInspects() bool {
	v.inspectMu.Lock()
	defer v.inspectMu.Unlock()
	return len(v.inspects) > 0
}
