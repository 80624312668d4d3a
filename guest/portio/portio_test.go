package portio

import (
	"errors"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// fakePorts records what a Writer's thread does, and on which thread.
type fakePorts struct {
	mu      sync.Mutex
	granted map[uint16]int // port -> thread that was granted it
	writes  []string
	threads map[int]bool // threads that executed an OUT
	refuse  error
}

func (f *fakePorts) ops() ops {
	return ops{
		ioperm: func(p uint16) error {
			if f.refuse != nil {
				return f.refuse
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			f.granted[p] = unix.Gettid()
			return nil
		},
		outb:  func(p uint16, b byte) { f.out(p, []byte{b}) },
		outsb: func(p uint16, d []byte) { f.out(p, d) },
	}
}

func (f *fakePorts) out(p uint16, d []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tid := unix.Gettid()
	if f.granted[p] != tid {
		f.writes = append(f.writes, "FAULT") // the CPU would raise #GP here
	}
	f.threads[tid] = true
	f.writes = append(f.writes, string(rune(p))+string(d))
}

func newFake() *fakePorts {
	return &fakePorts{granted: map[uint16]int{}, threads: map[int]bool{}}
}

// TestEveryWriteRunsOnTheGrantedThread writes from many goroutines, which
// the scheduler spreads over threads: every OUT must still execute on the
// thread ioperm was called on.
func TestEveryWriteRunsOnTheGrantedThread(t *testing.T) {
	f := newFake()
	w, err := open(f.ops(), []uint16{0xe9, 0xf8})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.Gosched()
			assert.NoError(t, w.OutB(0xf8, byte(i)))
			assert.NoError(t, w.OutSB(0xe9, []byte("line\n")))
		}()
	}
	wg.Wait()
	require.NoError(t, w.Close())
	assert.NotContains(t, f.writes, "FAULT")
	assert.Len(t, f.writes, 32)
	assert.Len(t, f.threads, 1, "one thread did every write")
	assert.Equal(t, f.granted[0xe9], f.granted[0xf8])
}

func TestWriterRefuses(t *testing.T) {
	f := newFake()
	w, err := open(f.ops(), []uint16{0xe9})
	require.NoError(t, err)
	err = w.OutB(0xf4, 1)
	assert.ErrorContains(t, err, "port 0xf4 was not opened", "a write there would fault")
	assert.NoError(t, w.OutSB(0xe9, nil), "nothing to write")
	require.NoError(t, w.Close())
	require.NoError(t, w.Close(), "twice is fine")
	assert.ErrorIs(t, w.OutB(0xe9, 1), ErrClosed)
	assert.Empty(t, f.writes)

	_, err = open(f.ops(), nil)
	assert.ErrorContains(t, err, "no ports")
	f.refuse = unix.EPERM
	_, err = open(f.ops(), []uint16{0xe9})
	assert.ErrorContains(t, err, "ioperm port 0xe9: operation not permitted (port I/O needs root")
}

// TestRealPortWrite writes the POST port 0x80, which Linux itself writes
// as an I/O delay, through the real ioperm and outb on this machine.
func TestRealPortWrite(t *testing.T) {
	w, err := Open(0x80)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		t.Skipf("no ioperm here (%v): a kernel without CONFIG_X86_IOPL_IOPERM, or not root; the lab's levels have it", err)
	}
	require.NoError(t, err)
	defer w.Close()
	assert.NoError(t, w.OutB(0x80, 0))
	assert.NoError(t, w.OutSB(0x80, []byte{1, 2, 3}))
}
