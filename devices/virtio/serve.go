package virtio

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
