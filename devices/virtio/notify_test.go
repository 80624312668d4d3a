package virtio

import (
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices/pci"
	"github.com/gonest/gonest/devices/virtio/virtiotest"
)

// fakeNotifier hands out channel-backed events.
type fakeNotifier struct {
	mu     sync.Mutex
	events map[uint64]*chanEvent
}

type chanEvent struct {
	ch     chan struct{}
	closed chan struct{}
	once   sync.Once
}

func (e *chanEvent) Wait() error {
	select {
	case <-e.ch:
		return nil
	case <-e.closed:
		return errors.New("closed")
	}
}

func (e *chanEvent) Close() error {
	e.once.Do(func() { close(e.closed) })
	return nil
}

func (n *fakeNotifier) Register(addr uint64, length int) (Event, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if length != notifyWidth {
		return nil, errors.New("unexpected length")
	}
	e := &chanEvent{ch: make(chan struct{}, 1), closed: make(chan struct{})}
	n.events[addr] = e
	return e, nil
}

func (n *fakeNotifier) get(addr uint64) *chanEvent {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.events[addr]
}

func TestNotifierFollowsTheBAR(t *testing.T) {
	n := &fakeNotifier{events: map[uint64]*chanEvent{}}
	r := newRig(t, rigOpts{msi: true, notifier: n})
	ev0 := n.get(r.base + notifyOffset)
	ev1 := n.get(r.base + notifyOffset + notifyMultiplier)
	require.NotNil(t, ev0, "queue 0 notify address registered")
	require.NotNil(t, ev1, "queue 1 notify address registered")

	require.True(t, r.negotiate(FeatureVersion1))
	r.enableMSIX(0, 0x51)
	d := r.setupQueue(0, memBase, 8, 0)
	r.driverOK()
	d.AddChain(virtiotest.Buf{Addr: d.Alloc(1), Len: 1, Write: true})
	ev0.ch <- struct{}{} // what KVM does on the guest's write
	assert.Equal(t, uint32(0x51), r.waitMSI().Data)

	// Moving the BAR closes the old events and registers new ones.
	newBase := uint64(0xC800_0000)
	r.cfgWrite(pci.RegBAR0, 4, uint32(newBase))
	select {
	case <-ev0.closed:
	default:
		t.Fatal("old event still open after the BAR moved")
	}
	assert.NotNil(t, n.get(newBase+notifyOffset))
}
