package virtio

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices/virtio/virtiotest"
	"github.com/gonest/gonest/guestmem"
)

// Fuzzed guest memory: 16 KiB at fuzzBase. The input's first byte picks
// the queue size and features; the rest is copied over the start of
// memory, where the descriptor table and the available ring live.
const (
	fuzzBase = 0x1000
	fuzzSize = 0x4000
	fuzzUsed = fuzzBase + 0x3000
)

func fuzzQueueParams(b byte) (uint16, uint64) {
	size := uint16(1) << (b & 3) // 1, 2, 4 or 8
	var f uint64
	if b&4 != 0 {
		f |= FeatureRingIndirectDesc
	}
	if b&8 != 0 {
		f |= FeatureRingEventIdx
	}
	return size, f
}

// FuzzChainWalker feeds arbitrary descriptor tables and available rings to
// the walker: it must never panic, and every chain it returns must hold
// only buffers inside guest memory, readable before writable, no more than
// the limits allow.
func FuzzChainWalker(f *testing.F) {
	for _, s := range chainSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		size, features := fuzzQueueParams(in[0])
		backing := make([]byte, fuzzSize)
		copy(backing, in[1:])
		mem := guestmem.FromBytes(fuzzBase, backing)
		descAddr := uint64(fuzzBase)
		availAddr := descAddr + 16*uint64(size)
		fails := 0
		q, err := NewQueue(mem, QueueConfig{
			Size: size, DescAddr: descAddr, DriverAddr: availAddr, DeviceAddr: fuzzUsed,
			Features: features, Fail: func(error) { fails++ },
		})
		require.NoError(t, err)
		lo := uintptr(unsafe.Pointer(&backing[0]))
		hi := lo + fuzzSize
		var c Chain
		for i := 0; i < 2*int(size)+2; i++ {
			ok, err := q.Pop(&c)
			if err != nil {
				require.ErrorIs(t, err, ErrBrokenRing)
				require.True(t, q.Broken())
				require.Equal(t, 1, fails)
				return
			}
			if !ok {
				break
			}
			require.LessOrEqual(t, len(c.Readable)+len(c.Writable), int(size)+MaxIndirectDescriptors)
			for _, bufs := range [][][]byte{c.Readable, c.Writable} {
				for _, b := range bufs {
					if b == nil {
						require.Error(t, c.Err, "a nil buffer comes with Err")
						continue
					}
					if len(b) > 0 {
						p := uintptr(unsafe.Pointer(&b[0]))
						require.True(t, p >= lo && p+uintptr(len(b)) <= hi, "buffer outside guest memory")
					}
				}
			}
			q.Push(c.Head, uint32(c.WritableLen()))
			q.SignalUsed()
		}
		q.Idle()
	})
}

// chainSeeds builds memory images with well-formed and broken chains.
func chainSeeds() [][]byte {
	build := func(params byte, size uint16, fill func(d *virtiotest.Driver)) []byte {
		backing := make([]byte, fuzzSize)
		mem := guestmem.FromBytes(fuzzBase, backing)
		d := virtiotest.New(mem, fuzzBase, size)
		fill(d)
		// Keep the part that holds the table, the ring and some buffers.
		return append([]byte{params}, backing[:0x800]...)
	}
	bufAt := uint64(fuzzBase + 0x400)
	return [][]byte{
		build(2, 4, func(d *virtiotest.Driver) { // header, data, status
			d.SetDesc(0, virtiotest.Desc{Addr: bufAt, Len: 16, Flags: virtiotest.FlagNext, Next: 1})
			d.SetDesc(1, virtiotest.Desc{Addr: bufAt + 16, Len: 512, Flags: virtiotest.FlagNext | virtiotest.FlagWrite, Next: 2})
			d.SetDesc(2, virtiotest.Desc{Addr: bufAt + 528, Len: 1, Flags: virtiotest.FlagWrite})
			d.Publish(0)
		}),
		build(2|4, 4, func(d *virtiotest.Driver) { // indirect
			d.WriteTable(bufAt, []virtiotest.Desc{
				{Addr: bufAt + 0x100, Len: 16, Flags: virtiotest.FlagNext, Next: 1},
				{Addr: bufAt + 0x110, Len: 1, Flags: virtiotest.FlagWrite},
			})
			d.SetDesc(0, virtiotest.Desc{Addr: bufAt, Len: 32, Flags: virtiotest.FlagIndirect})
			d.Publish(0)
		}),
		build(3|8, 8, func(d *virtiotest.Driver) { // a loop, event idx
			d.SetDesc(0, virtiotest.Desc{Addr: bufAt, Len: 1, Flags: virtiotest.FlagNext, Next: 1})
			d.SetDesc(1, virtiotest.Desc{Addr: bufAt, Len: 1, Flags: virtiotest.FlagNext, Next: 0})
			d.Publish(0)
		}),
		build(1, 2, func(d *virtiotest.Driver) { // two one-buffer chains
			d.SetDesc(0, virtiotest.Desc{Addr: bufAt, Len: 4, Flags: virtiotest.FlagWrite})
			d.SetDesc(1, virtiotest.Desc{Addr: 0xFFFF_FFFF_FFFF_F000, Len: 0x2000})
			d.Publish(0)
			d.Publish(1)
		}),
	}
}
