package virtio

// Event is a guest notification that bypasses the VMM's exit path: the
// board backs it with an eventfd registered through KVM_IOEVENTFD, so a
// driver's write to a queue's notify address wakes the device without the
// vCPU leaving the kernel.
type Event interface {
	// Wait blocks until the guest wrote the address at least once since
	// the previous Wait returned. It returns an error once the event is
	// closed.
	Wait() error
	// Close unregisters the address and releases the event; a blocked
	// Wait returns.
	Close() error
}

// Notifier registers notify addresses. The board implements it with
// KVM_IOEVENTFD (no datamatch). Without a Notifier every notification is
// an MMIO exit that the transport turns into a kick itself.
type Notifier interface {
	// Register arranges for a guest write of length bytes (0: any length)
	// at guest physical address addr to signal the returned Event.
	Register(addr uint64, length int) (Event, error)
}

// notifyWidth is the width of the driver's notification write: the
// 16-bit queue index (VIRTIO_F_NOTIFICATION_DATA is not offered).
const notifyWidth = 2

// kick wakes queue q's worker. The channel holds one pending kick, which
// is all a worker needs: it drains the whole ring when it wakes.
func (p *PCI) kick(q int) {
	select {
	case p.kicks[q] <- struct{}{}:
	default:
	}
}

// BARMapped implements pci.BARObserver: the notify area moved to base, so
// each queue's notify address is registered there.
func (p *PCI) BARMapped(index int, base uint64) {
	if index != barIndex || p.opts.Notifier == nil {
		return
	}
	p.evMu.Lock()
	defer p.evMu.Unlock()
	p.closeEventsLocked()
	if p.closed {
		return
	}
	for q := range p.kicks {
		addr := base + notifyOffset + uint64(q)*notifyMultiplier
		ev, err := p.opts.Notifier.Register(addr, notifyWidth)
		if err != nil {
			// Notifications still arrive as MMIO exits: slower, not broken.
			p.log.Warn("virtio notify address not registered; notifications will exit to the vmm",
				"queue", q, "addr", addr, "err", err)
			continue
		}
		p.events = append(p.events, ev)
		p.pumps.Add(1)
		go p.pump(ev, q)
	}
}

// BARUnmapped implements pci.BARObserver.
func (p *PCI) BARUnmapped(index int, base uint64) {
	if index != barIndex {
		return
	}
	p.evMu.Lock()
	defer p.evMu.Unlock()
	p.closeEventsLocked()
}

func (p *PCI) closeEventsLocked() {
	for _, ev := range p.events {
		if err := ev.Close(); err != nil {
			p.log.Warn("virtio notify event close", "err", err)
		}
	}
	p.events = nil
}

// pump turns an Event into kicks until the event is closed.
func (p *PCI) pump(ev Event, q int) {
	defer p.pumps.Done()
	for ev.Wait() == nil {
		p.kick(q)
	}
}
