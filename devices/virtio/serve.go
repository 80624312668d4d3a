package virtio

import (
	"errors"
	"sync"
)

// Handler executes one request. It returns how many bytes of the chain's
// writable buffers the driver may look at (the used element's len), or an
// error when the chain cannot be answered at all, which fails the queue.
type Handler func(c *Chain) (written uint32, err error)

// signalBatch bounds how many chains complete before the guest is
// considered for an interrupt, so a busy queue does not starve it.
const signalBatch = 32

// Serve runs a queue until stop is closed: it sleeps until the guest
// kicks, then executes every available chain with h, pushes the results
// and interrupts the guest once per batch. A device's per-queue worker
// goroutine calls it.
func Serve(q *Queue, stop <-chan struct{}, h Handler) {
	var c Chain
	for {
		if !Drain(q, stop, &c, h) {
			return
		}
		select {
		case <-stop:
			return
		case <-q.Kicked():
		}
	}
}

// Drain executes available chains until the ring is empty (true) or stop
// is closed (false). c is scratch space reused between chains.
func Drain(q *Queue, stop <-chan struct{}, c *Chain, h Handler) bool {
	for {
		for n := 1; ; n++ {
			select {
			case <-stop:
				q.SignalUsed()
				return false
			default:
			}
			ok, err := q.Pop(c)
			if err != nil || !ok {
				break
			}
			written, err := h(c)
			if err != nil {
				q.Fail(err)
				break
			}
			q.Push(c.Head, written)
			if n%signalBatch == 0 {
				q.SignalUsed()
			}
		}
		q.SignalUsed()
		if q.Idle() {
			return true
		}
	}
}

// Workers are a device's queue goroutines between Activate and Reset.
// The zero value is ready.
type Workers struct {
	mu     sync.Mutex
	stop   chan struct{}
	wg     sync.WaitGroup
	closed bool
}

// Errors of Workers.Start.
var (
	ErrClosed = errors.New("device is closed")
	ErrActive = errors.New("device is already active")
)

// Start runs each function in its own goroutine with a channel that Stop
// closes.
func (w *Workers) Start(run ...func(stop <-chan struct{})) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.closed:
		return ErrClosed
	case w.stop != nil:
		return ErrActive
	}
	w.stop = make(chan struct{})
	for _, f := range run {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			f(w.stop)
		}()
	}
	return nil
}

// Stop closes the workers' channel and waits until every one returned;
// each finishes the request it is executing first.
func (w *Workers) Stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopLocked()
}

func (w *Workers) stopLocked() {
	if w.stop != nil {
		close(w.stop)
		w.wg.Wait()
		w.stop = nil
	}
}

// Close stops the workers for good. It reports false when they were
// closed already.
func (w *Workers) Close() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	w.closed = true
	w.stopLocked()
	return true
}

// ReadConfigBytes serves Backend.ReadConfig from a device's configuration
// structure: bytes past its end read as zeros.
func ReadConfigBytes(cfg []byte, off uint64, data []byte) {
	clear(data)
	if off < uint64(len(cfg)) {
		copy(data, cfg[off:])
	}
}
