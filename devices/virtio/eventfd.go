package virtio

import (
	"encoding/binary"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// EventFD is a Linux eventfd that works as an Event. The board registers
// FD with KVM_IOEVENTFD for a notify address (so the guest's write signals
// it inside the kernel), or with KVM_IRQFD for an MSI route (so Signal
// injects the interrupt). Wait and Signal go through the Go runtime's
// poller, so a goroutine blocked in Wait costs no thread, and Close wakes
// it.
type EventFD struct {
	f  *os.File
	fd int
}

// NewEventFD creates a non-blocking, close-on-exec eventfd.
func NewEventFD() (*EventFD, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	// NewFile sees the non-blocking flag and makes the file pollable. Its
	// Fd method would switch it back to blocking, so the number is kept.
	return &EventFD{f: os.NewFile(uintptr(fd), "eventfd"), fd: fd}, nil
}

// FD returns the descriptor to hand to KVM. It stays valid until Close.
func (e *EventFD) FD() int { return e.fd }

// Wait blocks until the counter is non-zero and resets it. It returns an
// error once the eventfd is closed.
func (e *EventFD) Wait() error {
	var b [8]byte
	if _, err := e.f.Read(b[:]); err != nil {
		return fmt.Errorf("eventfd read: %w", err)
	}
	return nil
}

// Signal adds one to the counter, waking a Wait (or, registered with
// KVM_IRQFD, raising the interrupt). This is the interrupt hot path.
func (e *EventFD) Signal() error {
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], 1)
	if _, err := e.f.Write(b[:]); err != nil {
		return fmt.Errorf("eventfd write: %w", err)
	}
	return nil
}

// Close releases the eventfd; a blocked Wait returns an error. The board
// deassigns it from KVM first.
func (e *EventFD) Close() error {
	if err := e.f.Close(); err != nil {
		return fmt.Errorf("eventfd close: %w", err)
	}
	return nil
}
