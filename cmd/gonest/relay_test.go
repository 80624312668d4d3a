package main

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/machine"
)

// fakePorts records the port writes of a relay; each write waits for the
// gate when there is one.
type fakePorts struct {
	gate chan struct{}
	mu   sync.Mutex
	log  []string
}

func (f *fakePorts) write(s string) {
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	f.log = append(f.log, s)
	f.mu.Unlock()
}

func (f *fakePorts) OutB(port uint16, b byte) error {
	f.write(fmt.Sprintf("outb %#x %#x", port, b))
	return nil
}

func (f *fakePorts) OutSB(port uint16, data []byte) error {
	f.write(fmt.Sprintf("outsb %#x %d bytes", port, len(data)))
	return nil
}

func (f *fakePorts) Close() error { return nil }

func (f *fakePorts) written() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func testRelay(ports portWriter, file io.WriteCloser, wait time.Duration) *relay {
	r := &relay{items: make(chan relayItem, relayQueue), done: make(chan struct{}), ports: ports, file: file, wait: wait}
	go r.loop()
	return r
}

// TestRelayForwardsMarkersBeforeTheGuestGoesOn: with -forward, Marker
// returns only once the marker, and the message queued before it, went
// one level up, so a window there opens exactly when the guest wrote it.
func TestRelayForwardsMarkersBeforeTheGuestGoesOn(t *testing.T) {
	ports := &fakePorts{gate: make(chan struct{})}
	r := testRelay(ports, nil, time.Hour)
	r.Message(guestabi.EventMessage("before"))
	returned := make(chan struct{})
	go func() {
		r.Marker(machine.Marker{Value: uint32(guestabi.MarkerScenarioStart)})
		close(returned)
	}()
	select {
	case <-returned:
		t.Fatal("Marker returned before the marker was forwarded")
	case <-time.After(50 * time.Millisecond):
	}
	close(ports.gate)
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("Marker did not return once the marker was forwarded")
	}
	assert.Equal(t, []string{
		fmt.Sprintf("outsb %#x %d bytes", guestabi.MessagePort, messageLen(t, guestabi.EventMessage("before").Forwarded())),
		fmt.Sprintf("outb %#x %#x", guestabi.MarkerPort, guestabi.ForwardMarker(uint8(guestabi.MarkerScenarioStart))),
	}, ports.written(), "in the order the guest wrote them")
	require.NoError(t, r.Close())
}

// TestRelayMarkerWaitIsBounded: a level above that never takes the marker
// holds the vCPU for r.wait, then the guest goes on.
func TestRelayMarkerWaitIsBounded(t *testing.T) {
	ports := &fakePorts{gate: make(chan struct{})}
	r := testRelay(ports, nil, 20*time.Millisecond)
	returned := make(chan struct{})
	go func() {
		r.Marker(machine.Marker{Value: uint32(guestabi.MarkerScenarioEnd)})
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("Marker waited past its bound")
	}
	assert.Empty(t, ports.written(), "the port write is still pending")
	close(ports.gate)
	require.NoError(t, r.Close())
	assert.Len(t, ports.written(), 1, "and goes out later")
}

// TestRelayWithoutForwardDoesNotWait: with -messages only, markers go to
// the file from the relay's goroutine and Marker returns at once.
func TestRelayWithoutForwardDoesNotWait(t *testing.T) {
	var file bytes.Buffer
	r := testRelay(nil, nopCloser{&file}, time.Hour)
	r.Marker(machine.Marker{Value: uint32(guestabi.MarkerInitStarted)})
	require.NoError(t, r.Close())
	m, err := guestabi.ParseMessage(bytes.TrimSpace(file.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, guestabi.MarkerInitStarted, m.Marker.ID)
}

func messageLen(t *testing.T, m guestabi.Message) int {
	line, err := guestabi.EncodeMessage(m)
	require.NoError(t, err)
	return len(line)
}
