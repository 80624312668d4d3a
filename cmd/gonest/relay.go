package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/gonest/gonest/guest/portio"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/machine"
)

// relayQueue bounds the markers and messages waiting to be passed on; a
// guest that writes faster than they leave loses the excess, never the
// VMM's memory or a vCPU's time.
const relayQueue = 1024

// relayDrain bounds how long gonest waits at exit for the last items
// (the verdict message among them) to leave.
const relayDrain = 5 * time.Second

// markerWait bounds how long a vCPU thread waits for its guest's marker
// to reach the level above (relay.Marker).
const markerWait = time.Second

// relay passes the guest's markers and messages on, off the vCPU threads:
// to the -messages file for whoever started gonest (markers as marker
// messages), and with -forward one level up, to this machine's own marker
// and message ports with the depth raised, for a VMM that runs gonest in
// its guest.
type relay struct {
	items   chan relayItem
	done    chan struct{}
	file    io.WriteCloser // -messages, or nil
	ports   portWriter     // -forward, or nil
	wait    time.Duration  // markerWait
	dropped atomic.Uint64  // items the full queue refused
	failed  atomic.Pointer[error]
}

// portWriter writes this machine's ports (*portio.Writer).
type portWriter interface {
	OutB(port uint16, b byte) error
	OutSB(port uint16, data []byte) error
	Close() error
}

// relayItem is a marker byte (msg nil) or a message.
type relayItem struct {
	marker uint8
	msg    *guestabi.Message
	passed chan struct{} // closed once the item went on, when someone waits for it
}

// newRelay opens the -messages file and the ports -forward writes; nil
// when neither is asked for.
func newRelay(messages string, forward bool) (*relay, error) {
	if messages == "" && !forward {
		return nil, nil
	}
	r := &relay{items: make(chan relayItem, relayQueue), done: make(chan struct{}), wait: markerWait}
	if forward {
		w, err := portio.Open(guestabi.MarkerPort, guestabi.MessagePort)
		if err != nil {
			return nil, fmt.Errorf("-forward: %w", err)
		}
		r.ports = w
	}
	if messages != "" {
		f, err := os.OpenFile(messages, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			if r.ports != nil {
				r.ports.Close()
			}
			return nil, fmt.Errorf("-messages: %w", err)
		}
		r.file = f
	}
	go r.loop()
	return r, nil
}

// Marker queues a marker byte; it runs on a vCPU thread. With -forward
// it then waits, at most r.wait, until the marker (and all queued before
// it) has gone one level up, before the guest goes on: a VMM there that
// opens or closes a window on the marker (gonest -window) then measures
// exactly the guest's work between two markers, not the time the relay
// took to get its turn. A marker costs the level above one exit.
func (r *relay) Marker(mk machine.Marker) {
	it := relayItem{marker: uint8(mk.Value)}
	if r.ports != nil {
		it.passed = make(chan struct{})
	}
	if !r.queue(it) || it.passed == nil {
		return
	}
	t := time.NewTimer(r.wait)
	defer t.Stop()
	select {
	case <-it.passed:
	case <-t.C:
	}
}

// Message queues a message; it runs on a vCPU thread.
func (r *relay) Message(m guestabi.Message) { r.queue(relayItem{msg: &m}) }

func (r *relay) queue(it relayItem) bool {
	select {
	case r.items <- it:
		return true
	default:
		r.dropped.Add(1)
		return false
	}
}

func (r *relay) loop() {
	defer close(r.done)
	for it := range r.items {
		if err := r.pass(it); err != nil {
			r.failed.CompareAndSwap(nil, &err)
		}
		if it.passed != nil {
			close(it.passed)
		}
	}
}

// pass writes one item everywhere it goes.
func (r *relay) pass(it relayItem) error {
	var errs []error
	msg := it.msg
	if msg == nil {
		depth, id := guestabi.SplitMarker(it.marker)
		if r.ports != nil {
			errs = append(errs, r.ports.OutB(guestabi.MarkerPort, guestabi.ForwardMarker(it.marker)))
		}
		m := guestabi.MarkerMessage(id)
		m.Depth = depth
		msg = &m
	} else if r.ports != nil {
		line, err := guestabi.EncodeMessage(msg.Forwarded())
		if err == nil {
			err = r.ports.OutSB(guestabi.MessagePort, line)
		}
		errs = append(errs, err)
	}
	if r.file != nil {
		line, err := guestabi.EncodeMessage(*msg)
		if err == nil { // a marker byte that names no marker has no message
			_, err = r.file.Write(line)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close passes on what is queued (waiting at most relayDrain) and says
// what was lost.
func (r *relay) Close() error {
	close(r.items)
	var errs []error
	select {
	case <-r.done:
	case <-time.After(relayDrain):
		errs = append(errs, fmt.Errorf("markers and messages still queued after %v; the reader of -messages or the VMM above stalled", relayDrain))
	}
	if n := r.dropped.Load(); n > 0 {
		errs = append(errs, fmt.Errorf("%d guest markers and messages dropped: the guest wrote them faster than they could be passed on", n))
	}
	if p := r.failed.Load(); p != nil {
		errs = append(errs, fmt.Errorf("passing on markers and messages: %w", *p))
	}
	if r.file != nil {
		errs = append(errs, r.file.Close())
	}
	if r.ports != nil {
		errs = append(errs, r.ports.Close())
	}
	return errors.Join(errs...)
}
