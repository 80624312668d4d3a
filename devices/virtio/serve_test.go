package virtio

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWorkersLifecycle(t *testing.T) {
	var w Workers
	var running, stopped atomic.Int32
	run := func(stop <-chan struct{}) {
		running.Add(1)
		<-stop
		stopped.Add(1)
	}
	require.NoError(t, w.Start(run, run))
	assert.ErrorIs(t, w.Start(run), ErrActive)
	w.Stop()
	assert.Equal(t, int32(2), stopped.Load(), "Stop waits for every worker")
	w.Stop() // nothing running: nothing to do
	require.NoError(t, w.Start(run))
	assert.True(t, w.Close())
	assert.Equal(t, int32(3), stopped.Load())
	assert.False(t, w.Close())
	assert.ErrorIs(t, w.Start(run), ErrClosed)
	assert.Equal(t, int32(3), running.Load())
}

func TestReadConfigBytes(t *testing.T) {
	cfg := []byte{1, 2, 3, 4}
	tests := []struct {
		off  uint64
		n    int
		want []byte
	}{
		{0, 4, []byte{1, 2, 3, 4}},
		{2, 4, []byte{3, 4, 0, 0}},
		{4, 2, []byte{0, 0}},
		{1 << 40, 1, []byte{0}},
	}
	for _, tt := range tests {
		data := make([]byte, tt.n)
		for i := range data {
			data[i] = 0xff
		}
		ReadConfigBytes(cfg, tt.off, data)
		assert.Equal(t, tt.want, data, "offset %d", tt.off)
	}
}
