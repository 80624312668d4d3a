package blk

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices/disk"
	"github.com/gonest/gonest/devices/virtio"
	"github.com/gonest/gonest/devices/virtio/virtiotest"
)

func TestReadWriteFlush(t *testing.T) {
	h := newHarness(t, disk.Spec{Path: newImage(t, diskBytes)})

	r := h.do(TypeIn, 3, nil, 2*SectorSize)
	require.Equal(t, byte(StatusOK), r.status)
	assert.Equal(t, append(sectorOf(4), sectorOf(5)...), r.in)
	assert.Equal(t, []virtiotest.Used{{ID: r.used[0].ID, Len: 2*SectorSize + 1}}, r.used, "used len covers data and status")

	r = h.do(TypeOut, 10, append(sectorOf(0xAA), sectorOf(0xBB)...), 0)
	require.Equal(t, byte(StatusOK), r.status)
	assert.Equal(t, uint32(1), r.used[0].Len)
	r = h.do(TypeFlush, 0, nil, 0)
	require.Equal(t, byte(StatusOK), r.status)
	f := h.file()
	assert.Equal(t, sectorOf(0xAA), f[10*SectorSize:11*SectorSize])
	assert.Equal(t, sectorOf(0xBB), f[11*SectorSize:12*SectorSize])
	assert.Equal(t, sectorOf(10), f[9*SectorSize:10*SectorSize], "neighbours untouched")

	r = h.do(TypeIn, 10, nil, SectorSize)
	assert.Equal(t, sectorOf(0xAA), r.in, "reads see the write")

	// The last sector is readable; nothing beyond it.
	r = h.do(TypeIn, 63, nil, SectorSize)
	assert.Equal(t, byte(StatusOK), r.status)
	assert.Equal(t, sectorOf(64), r.in)
}

func TestGetID(t *testing.T) {
	tests := []struct {
		name  string
		spec  func(path string) disk.Spec
		inLen uint32
		want  string
	}{
		{"from the file name", func(p string) disk.Spec { return disk.Spec{Path: p} }, 20, "disk.img\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"},
		{"explicit, 20 bytes, no terminator", func(p string) disk.Spec { return disk.Spec{Path: p, Serial: "ABCDEFGHIJ0123456789"} }, 20, "ABCDEFGHIJ0123456789"},
		{"short buffer", func(p string) disk.Spec { return disk.Spec{Path: p, Serial: "serial-1"} }, 4, "seri"},
		{"long buffer gets 20 bytes", func(p string) disk.Spec { return disk.Spec{Path: p, Serial: "s"} }, 24, "s\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.spec(newImage(t, diskBytes)))
			r := h.do(TypeGetID, 0, nil, tt.inLen)
			require.Equal(t, byte(StatusOK), r.status)
			assert.Equal(t, tt.want, string(r.in))
		})
	}
}

func TestHeaderAndDataSplitAnyWay(t *testing.T) {
	h := newHarness(t, disk.Spec{Path: newImage(t, diskBytes)})
	hdr := header(TypeIn, 2)
	a := h.drv.Put(hdr[:5])
	b := h.drv.Put(hdr[5:])
	d1 := h.drv.Alloc(100)
	d2 := h.drv.Alloc(SectorSize - 100)
	st := h.drv.Put([]byte{0xEE})
	h.drv.AddChain(
		virtiotest.Buf{Addr: a, Len: 5}, virtiotest.Buf{Addr: b, Len: headerSize - 5},
		virtiotest.Buf{Addr: d1, Len: 100, Write: true}, virtiotest.Buf{Addr: d2, Len: SectorSize - 100, Write: true},
		virtiotest.Buf{Addr: st, Len: 1, Write: true},
	)
	h.run()
	assert.Equal(t, byte(StatusOK), h.drv.Bytes(st, 1)[0])
	got := append(append([]byte(nil), h.drv.Bytes(d1, 100)...), h.drv.Bytes(d2, SectorSize-100)...)
	assert.Equal(t, sectorOf(3), got)
}

func TestStatusInsideTheDataBuffer(t *testing.T) {
	// One writable buffer holds the data and the status byte.
	h := newHarness(t, disk.Spec{Path: newImage(t, diskBytes)})
	buf := h.drv.Alloc(SectorSize + 1)
	h.drv.AddChain(virtiotest.Buf{Addr: h.drv.Put(header(TypeIn, 0)), Len: headerSize},
		virtiotest.Buf{Addr: buf, Len: SectorSize + 1, Write: true})
	h.run()
	got := h.drv.Bytes(buf, SectorSize+1)
	assert.Equal(t, sectorOf(1), got[:SectorSize])
	assert.Equal(t, byte(StatusOK), got[SectorSize])
}

func TestIndirectRequest(t *testing.T) {
	h := newHarness(t, disk.Spec{Path: newImage(t, diskBytes)})
	data := h.drv.Alloc(SectorSize)
	st := h.drv.Put([]byte{0xEE})
	table := h.drv.Alloc(3 * 16)
	h.drv.WriteTable(table, []virtiotest.Desc{
		{Addr: h.drv.Put(header(TypeIn, 5)), Len: headerSize, Flags: virtiotest.FlagNext, Next: 1},
		{Addr: data, Len: SectorSize, Flags: virtiotest.FlagWrite | virtiotest.FlagNext, Next: 2},
		{Addr: st, Len: 1, Flags: virtiotest.FlagWrite},
	})
	h.drv.SetDesc(0, virtiotest.Desc{Addr: table, Len: 48, Flags: virtiotest.FlagIndirect})
	h.drv.Publish(0)
	h.run()
	assert.Equal(t, byte(StatusOK), h.drv.Bytes(st, 1)[0])
	assert.Equal(t, sectorOf(6), h.drv.Bytes(data, SectorSize))
}

func TestDiscardAndWriteZeroes(t *testing.T) {
	h := newHarness(t, disk.Spec{Path: newImage(t, diskBytes)})
	require.NotZero(t, h.dev.Features()&FeatureWriteZeroes)

	r := h.do(TypeWriteZeroes, 0, segment(4, 2, 0), 0)
	require.Equal(t, byte(StatusOK), r.status)
	r = h.do(TypeWriteZeroes, 0, append(segment(20, 1, SegFlagUnmap), segment(30, 8, 0)...), 0)
	require.Equal(t, byte(StatusOK), r.status)
	f := h.file()
	assert.Equal(t, make([]byte, 2*SectorSize), f[4*SectorSize:6*SectorSize])
	assert.Equal(t, make([]byte, SectorSize), f[20*SectorSize:21*SectorSize])
	assert.Equal(t, make([]byte, 8*SectorSize), f[30*SectorSize:38*SectorSize])
	assert.Equal(t, sectorOf(7), f[6*SectorSize:7*SectorSize])
	assert.Equal(t, diskBytes, len(f), "the image never grows")

	if h.dev.Features()&FeatureDiscard == 0 {
		assert.Equal(t, byte(StatusUnsupp), h.do(TypeDiscard, 0, segment(40, 8, 0), 0).status)
		return
	}
	r = h.do(TypeDiscard, 0, segment(40, 8, 0), 0)
	require.Equal(t, byte(StatusOK), r.status)
	assert.Equal(t, make([]byte, 8*SectorSize), h.file()[40*SectorSize:48*SectorSize], "punched holes read as zeros")
}

func TestZeroFallbackWrites(t *testing.T) {
	h := newHarness(t, disk.Spec{Path: newImage(t, diskBytes)})
	h.dev.zeroRange.Store(false)
	require.NoError(t, h.dev.zero(2*SectorSize, 3*SectorSize, false))
	assert.Equal(t, make([]byte, 3*SectorSize), h.file()[2*SectorSize:5*SectorSize])
}

// TestHostileRequests is the hostile-guest suite: each malformed request
// gets the status the specification requires, or, where no status can be
// written or the ring itself is broken, the queue stops and the device
// asks for a reset. Nothing panics and the image never changes.
func TestHostileRequests(t *testing.T) {
	type outcome int
	const (
		status outcome = iota // the request completes with want
		broken                // the queue fails, nothing completes
	)
	tests := []struct {
		name string
		ro   bool
		// build returns the chain and where the status byte is (0: none).
		build func(h *harness) (bufs []virtiotest.Buf, st uint64)
		raw   func(h *harness) // instead of build: write descriptors directly
		want  byte
		out   outcome
	}{
		{name: "data descriptor outside guest memory", want: StatusIOErr, build: func(h *harness) ([]virtiotest.Buf, uint64) {
			st := h.drv.Put([]byte{0xEE})
			return []virtiotest.Buf{{Addr: h.drv.Put(header(TypeIn, 0)), Len: headerSize},
				{Addr: memBase + memSize - 256, Len: SectorSize, Write: true},
				{Addr: st, Len: 1, Write: true}}, st
		}},
		{name: "header outside guest memory", want: StatusIOErr, build: func(h *harness) ([]virtiotest.Buf, uint64) {
			st := h.drv.Put([]byte{0xEE})
			return []virtiotest.Buf{{Addr: 0xFFFF_FFFF_FFFF_FFF0, Len: headerSize}, {Addr: st, Len: 1, Write: true}}, st
		}},
		{name: "write-only header", want: StatusIOErr, build: func(h *harness) ([]virtiotest.Buf, uint64) {
			st := h.drv.Put([]byte{0xEE})
			return []virtiotest.Buf{{Addr: h.drv.Put(header(TypeOut, 0)), Len: headerSize, Write: true},
				{Addr: h.drv.Alloc(SectorSize), Len: SectorSize, Write: true},
				{Addr: st, Len: 1, Write: true}}, st
		}},
		{name: "short header", want: StatusIOErr, build: func(h *harness) ([]virtiotest.Buf, uint64) {
			st := h.drv.Put([]byte{0xEE})
			return []virtiotest.Buf{{Addr: h.drv.Put(header(TypeIn, 0)), Len: 12}, {Addr: st, Len: 1, Write: true}}, st
		}},
		{name: "read length not a multiple of 512", want: StatusIOErr, build: stdChain(TypeIn, 0, 0, 511)},
		{name: "write length not a multiple of 512", want: StatusIOErr, build: stdChain(TypeOut, 0, 513, 0)},
		{name: "read of a sector past the end", want: StatusIOErr, build: stdChain(TypeIn, 64, 0, SectorSize)},
		{name: "read running past the end", want: StatusIOErr, build: stdChain(TypeIn, 63, 0, 2*SectorSize)},
		{name: "write of a sector past the end", want: StatusIOErr, build: stdChain(TypeOut, 64, SectorSize, 0)},
		{name: "write at a sector that overflows", want: StatusIOErr, build: stdChain(TypeOut, 1<<63, SectorSize, 0)},
		{name: "read with extra readable data", want: StatusIOErr, build: stdChain(TypeIn, 0, SectorSize, SectorSize)},
		{name: "write with extra writable data", want: StatusIOErr, build: stdChain(TypeOut, 0, SectorSize, SectorSize)},
		{name: "unknown type", want: StatusUnsupp, build: stdChain(0x42, 0, 0, 0)},
		{name: "get lifetime", want: StatusUnsupp, build: stdChain(TypeGetLifetime, 0, 0, 8)},
		{name: "secure erase", want: StatusUnsupp, build: stdChain(TypeSecureErase, 0, segmentSize, 0)},
		{name: "get id without a buffer", want: StatusIOErr, build: stdChain(TypeGetID, 0, 0, 0)},
		{name: "write zeroes with an unknown flag", want: StatusUnsupp, build: segChain(TypeWriteZeroes, segment(0, 1, 2))},
		{name: "write zeroes past the end", want: StatusIOErr, build: segChain(TypeWriteZeroes, segment(60, 8, 0))},
		{name: "write zeroes with a ragged segment", want: StatusIOErr, build: segChain(TypeWriteZeroes, segment(0, 1, 0)[:12])},
		{name: "write zeroes with too many segments", want: StatusIOErr, build: segChain(TypeWriteZeroes, bytes.Repeat(segment(0, 1, 0), maxWriteZeroesSeg+1))},
		{name: "write zeroes over the sector limit", want: StatusIOErr, build: segChain(TypeWriteZeroes, segment(0, maxWriteZeroesSectors+1, 0))},
		{name: "discard with unmap", want: StatusUnsupp, build: segChain(TypeDiscard, segment(0, 1, SegFlagUnmap))},
		{name: "read-only: write", ro: true, want: StatusIOErr, build: stdChain(TypeOut, 0, SectorSize, 0)},
		{name: "read-only: discard", ro: true, want: StatusIOErr, build: segChain(TypeDiscard, segment(0, 1, 0))},
		{name: "read-only: write zeroes", ro: true, want: StatusIOErr, build: segChain(TypeWriteZeroes, segment(0, 1, 0))},
		{name: "no status byte", out: broken, build: func(h *harness) ([]virtiotest.Buf, uint64) {
			return []virtiotest.Buf{{Addr: h.drv.Put(header(TypeFlush, 0)), Len: headerSize}}, 0
		}},
		{name: "status byte outside guest memory", out: broken, build: func(h *harness) ([]virtiotest.Buf, uint64) {
			return []virtiotest.Buf{{Addr: h.drv.Put(header(TypeFlush, 0)), Len: headerSize},
				{Addr: memBase + memSize, Len: 1, Write: true}}, 0
		}},
		{name: "head index beyond the queue", out: broken, raw: func(h *harness) {
			h.drv.Publish(qSize)
		}},
		{name: "next index beyond the queue", out: broken, raw: func(h *harness) {
			h.drv.SetDesc(0, virtiotest.Desc{Addr: h.drv.Put(header(TypeIn, 0)), Len: headerSize, Flags: virtiotest.FlagNext, Next: 1000})
			h.drv.Publish(0)
		}},
		{name: "a loop in the chain", out: broken, raw: func(h *harness) {
			hdr := h.drv.Put(header(TypeOut, 0))
			h.drv.SetDesc(0, virtiotest.Desc{Addr: hdr, Len: headerSize, Flags: virtiotest.FlagNext, Next: 1})
			h.drv.SetDesc(1, virtiotest.Desc{Addr: hdr, Len: SectorSize, Flags: virtiotest.FlagNext, Next: 0})
			h.drv.Publish(0)
		}},
		{name: "a chain longer than the queue", out: broken, raw: func(h *harness) {
			hdr := h.drv.Put(header(TypeIn, 0))
			for i := uint16(0); i < qSize; i++ {
				h.drv.SetDesc(i, virtiotest.Desc{Addr: hdr, Len: 1, Flags: virtiotest.FlagNext, Next: i + 1})
			}
			h.drv.Publish(0)
		}},
		{name: "readable data after the status", out: broken, raw: func(h *harness) {
			h.drv.SetDesc(0, virtiotest.Desc{Addr: h.drv.Put(header(TypeOut, 0)), Len: headerSize, Flags: virtiotest.FlagNext, Next: 1})
			h.drv.SetDesc(1, virtiotest.Desc{Addr: h.drv.Alloc(1), Len: 1, Flags: virtiotest.FlagWrite | virtiotest.FlagNext, Next: 2})
			h.drv.SetDesc(2, virtiotest.Desc{Addr: h.drv.Alloc(SectorSize), Len: SectorSize})
			h.drv.Publish(0)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, disk.Spec{Path: newImage(t, diskBytes), ReadOnly: tt.ro})
			before := h.file()
			var st uint64
			if tt.raw != nil {
				tt.raw(h)
			} else {
				var bufs []virtiotest.Buf
				bufs, st = tt.build(h)
				h.drv.AddChain(bufs...)
			}
			require.NotPanics(t, h.run)
			used := h.drv.TakeUsed()
			switch tt.out {
			case status:
				require.Empty(t, h.failures)
				require.Len(t, used, 1)
				assert.Equal(t, tt.want, h.drv.Bytes(st, 1)[0])
			case broken:
				assert.Len(t, h.failures, 1, "the transport is told to set DEVICE_NEEDS_RESET")
				assert.Empty(t, used)
				assert.True(t, h.q.Broken())
			}
			assert.Equal(t, before, h.file(), "the image is unchanged")
		})
	}
}

// stdChain builds header, outLen readable bytes, inLen writable bytes and
// the status byte.
func stdChain(typ uint32, sector uint64, outLen, inLen uint32) func(h *harness) ([]virtiotest.Buf, uint64) {
	return func(h *harness) ([]virtiotest.Buf, uint64) {
		bufs := []virtiotest.Buf{{Addr: h.drv.Put(header(typ, sector)), Len: headerSize}}
		if outLen > 0 {
			bufs = append(bufs, virtiotest.Buf{Addr: h.drv.Put(bytes.Repeat([]byte{0x77}, int(outLen))), Len: outLen})
		}
		if inLen > 0 {
			bufs = append(bufs, virtiotest.Buf{Addr: h.drv.Alloc(uint64(inLen)), Len: inLen, Write: true})
		}
		st := h.drv.Put([]byte{0xEE})
		return append(bufs, virtiotest.Buf{Addr: st, Len: 1, Write: true}), st
	}
}

func segChain(typ uint32, segs []byte) func(h *harness) ([]virtiotest.Buf, uint64) {
	return func(h *harness) ([]virtiotest.Buf, uint64) {
		st := h.drv.Put([]byte{0xEE})
		return []virtiotest.Buf{{Addr: h.drv.Put(header(typ, 0)), Len: headerSize},
			{Addr: h.drv.Put(segs), Len: uint32(len(segs))},
			{Addr: st, Len: 1, Write: true}}, st
	}
}

func TestFeatureNotNegotiated(t *testing.T) {
	h := newHarness(t, disk.Spec{Path: newImage(t, diskBytes)})
	h.req.features = virtio.FeatureVersion1 // the driver declined WRITE_ZEROES
	r := h.do(TypeWriteZeroes, 0, segment(0, 1, 0), 0)
	assert.Equal(t, byte(StatusUnsupp), r.status)
	assert.Equal(t, sectorOf(1), h.file()[:SectorSize])
}
