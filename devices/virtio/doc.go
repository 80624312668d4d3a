// Package virtio is the device side of virtio 1.2: the modern PCI
// transport and the split virtqueue. Device types (devices/virtio/blk)
// plug in as a Backend.
//
// # Transport
//
// PCI is one PCI function (vendor 0x1AF4, device 0x1040 + virtio type,
// revision 1) with a 32 KiB 64-bit BAR 0 holding, one page each, the
// common configuration, the ISR byte, the device-specific configuration,
// the notify area (queue n at offset 4n), and the MSI-X table and pending
// bits. Vendor capabilities of cfg_type COMMON, NOTIFY, ISR, DEVICE and
// PCI_CFG point the driver at them (virtio 1.2 §4.1.4).
//
// The common configuration is a register state machine (common.go):
// feature negotiation (FEATURES_OK reads back clear when the driver took a
// feature that was not offered or left out VERSION_1), queue setup through
// queue_select, MSI-X vector mapping (a vector outside the table reads back
// as NO_VECTOR), and device_status. Writing 0 resets: the backend stops
// before the write returns, then features, queues and vectors go back to
// their initial values. DRIVER_OK builds a Queue for every enabled queue,
// checked against guest memory, and activates the backend. Anything
// impossible (a ring outside RAM, a size that is not a power of two, a
// chain that loops) sets DEVICE_NEEDS_RESET and sends a configuration
// change interrupt, as §2.1.2 asks; the VMM carries on.
//
// # Notifications
//
// The board implements Notifier with KVM_IOEVENTFD: whenever BAR 0 is
// mapped (pci.BARObserver) each queue's notify address is registered, and
// a pump goroutine turns the eventfd into a kick on the queue's channel,
// so the vCPU never exits for a notification. When the BAR moves or is
// unmapped the events are closed and re-registered. Without a Notifier,
// or for a write KVM did not match, the notify write arrives as an MMIO
// exit and kicks the same channel.
//
// Interrupts go out through MSI-X (pci.MSIX and the board's MSIRouter,
// whose Fire is one irqfd write) or, while MSI-X is off, through the ISR
// byte and the INTx line: reading ISR clears it and lowers the line.
//
// # Split virtqueue
//
// Walking a queue is separate from executing requests. Queue.Pop reads
// avail.idx, takes the next head and walks its chain (chain.go): every
// descriptor index is checked against the table, the chain may be no
// longer than the queue (so a loop ends), readable buffers must precede
// writable ones, and an indirect table must be a whole number of
// descriptors inside RAM, at most 1024 long and not nested. Each
// descriptor is read once, so a driver rewriting it concurrently cannot
// make a checked value change. Buffers become slices of guest memory
// (guestmem.Memory.Slice); one outside RAM becomes a nil entry and
// Chain.Err, so the device can still answer with an error status. A
// broken ring fails the queue instead.
//
// Queue.Push writes the used element and then publishes used.idx;
// SignalUsed decides whether the guest wants an interrupt (NO_INTERRUPT,
// or EVENT_IDX's used_event); Idle re-arms notifications (avail_event)
// before a worker sleeps. ring_unsafe.go explains how the memory ordering
// between the vCPU and the worker is obtained on amd64. Serve is the
// worker loop a device runs per queue.
//
// virtiotest plays the guest driver on fake memory for tests.
package virtio
