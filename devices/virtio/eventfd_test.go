package virtio

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var _ Event = (*EventFD)(nil)

func TestEventFD(t *testing.T) {
	e, err := NewEventFD()
	require.NoError(t, err)
	assert.Positive(t, e.FD())

	// Two signals before a Wait collapse into one wakeup.
	require.NoError(t, e.Signal())
	require.NoError(t, e.Signal())
	require.NoError(t, e.Wait())

	woke := make(chan error, 1)
	go func() { woke <- e.Wait() }()
	select {
	case <-woke:
		t.Fatal("Wait returned with the counter at zero")
	case <-time.After(20 * time.Millisecond):
	}
	require.NoError(t, e.Signal())
	select {
	case err := <-woke:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Signal did not wake Wait")
	}

	go func() { woke <- e.Wait() }()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, e.Close())
	select {
	case err := <-woke:
		assert.Error(t, err, "Close wakes a blocked Wait with an error")
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake Wait")
	}
	assert.Error(t, e.Signal(), "closed")
}
