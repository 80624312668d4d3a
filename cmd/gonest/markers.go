package main

import (
	"fmt"
	"os"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/machine"
)

// markerForwarder passes the guest's timing markers on to the marker port
// of the machine gonest itself runs in, so that when gonest is G1's VMM
// inside H, H's VMM (or the lab) sees G2's boot milestones too.
type markerForwarder struct {
	port *os.File // /dev/port: a one-byte pwrite at offset N is OUTB to port N
}

func newMarkerForwarder() (*markerForwarder, error) {
	f, err := os.OpenFile("/dev/port", os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/port: %w (it needs root and CONFIG_DEVPORT)", err)
	}
	return &markerForwarder{port: f}, nil
}

// Forward writes marker mk one level up, its depth raised by one.
func (f *markerForwarder) Forward(mk machine.Marker) {
	b := guestabi.ForwardMarker(uint8(mk.Value))
	f.port.WriteAt([]byte{b}, guestabi.MarkerPort) //nolint:errcheck // best effort: a lost marker only shortens a timeline
}

func (f *markerForwarder) Close() error { return f.port.Close() }
