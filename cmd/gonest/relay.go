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

// relay passes the guest's markers and messages on, off the vCPU threads:
// to the -messages file for whoever started gonest (markers as marker
// messages), and with -forward one level up, to this machine's own marker
// and message ports with the depth raised, for a VMM that runs gonest in
// its guest.
type relay struct {
	items   chan relayItem
	done    chan struct{}
	file    io.WriteCloser // -messages, or nil
	ports   *portio.Writer // -forward, or nil
	dropped atomic.Uint64  // items the full queue refused
	failed  atomic.Pointer[error]
}

// relayItem is a marker byte (msg nil) or a message.
type relayItem struct {
	marker uint8
	msg    *guestabi.Message
}

// newRelay opens the -messages file and the ports -forward writes; nil
// when neither is asked for.
func newRelay(messages string, forward bool) (*relay, error) {
	if messages == "" && !forward {
		return nil, nil
	}
	r := &relay{items: make(chan relayItem, relayQueue), done: make(chan struct{})}
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

// Marker queues a marker byte; it runs on a vCPU thread.
func (r *relay) Marker(mk machine.Marker) { r.queue(relayItem{marker: uint8(mk.Value)}) }

// Message queues a message; it runs on a vCPU thread.
func (r *relay) Message(m guestabi.Message) { r.queue(relayItem{msg: &m}) }

func (r *relay) queue(it relayItem) {
	select {
	case r.items <- it:
	default:
		r.dropped.Add(1)
	}
}

func (r *relay) loop() {
	defer close(r.done)
	for it := range r.items {
		if err := r.pass(it); err != nil {
			r.failed.CompareAndSwap(nil, &err)
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
