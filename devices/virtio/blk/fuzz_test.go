package blk

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices/disk"
	"github.com/gonest/gonest/devices/virtio"
	"github.com/gonest/gonest/devices/virtio/virtiotest"
	"github.com/gonest/gonest/guestmem"
)

const (
	fuzzSectors = 16
	fuzzMemSize = 64 << 10
)

// Layout bits of FuzzBlkRequest's layout argument.
const (
	layoutSplitHeader  = 1 << 0 // header in two descriptors
	layoutSplitPayload = 1 << 1 // readable payload in two descriptors
	layoutSplitIn      = 1 << 2 // writable data in two descriptors
	layoutStatusInData = 1 << 3 // the status byte ends the last data buffer
	layoutNoStatus     = 1 << 4 // no writable byte at all
	layoutReadOnly     = 1 << 5 // a read-only disk
	layoutHeaderWrite  = 1 << 6 // the header is device-writable
	layoutIndirect     = 1 << 7 // the chain sits in an indirect table
)

// FuzzBlkRequest sends one arbitrary request, laid out in arbitrary ways,
// through the walker and the request path. It must not panic, must answer
// with a defined status (or fail the queue when no status byte exists),
// must never change the image's size or a read-only image, and what it
// reports as done must be true of the image.
func FuzzBlkRequest(f *testing.F) {
	f.Add(uint32(TypeIn), uint64(3), []byte{}, uint16(1024), uint8(0))
	f.Add(uint32(TypeOut), uint64(15), bytes.Repeat([]byte{7}, 512), uint16(0), uint8(layoutSplitHeader|layoutSplitPayload))
	f.Add(uint32(TypeOut), uint64(1), bytes.Repeat([]byte{9}, 1024), uint16(0), uint8(layoutReadOnly))
	f.Add(uint32(TypeFlush), uint64(0), []byte{}, uint16(0), uint8(layoutIndirect))
	f.Add(uint32(TypeGetID), uint64(0), []byte{}, uint16(20), uint8(layoutStatusInData))
	f.Add(uint32(TypeWriteZeroes), uint64(0), segment(2, 3, SegFlagUnmap), uint16(0), uint8(0))
	f.Add(uint32(TypeDiscard), uint64(0), append(segment(0, 8, 0), segment(8, 8, 0)...), uint16(0), uint8(layoutSplitPayload))
	f.Add(uint32(TypeIn), uint64(16), []byte{}, uint16(512), uint8(layoutSplitIn))
	f.Add(uint32(TypeIn), uint64(0), []byte{}, uint16(511), uint8(layoutHeaderWrite))
	f.Add(uint32(77), uint64(0), []byte{}, uint16(0), uint8(layoutNoStatus))

	img := filepath.Join(f.TempDir(), "fuzz.img")
	f.Fuzz(func(t *testing.T, typ uint32, sector uint64, payload []byte, inLen uint16, layout uint8) {
		if len(payload) > 8192 || inLen > 8192 {
			return
		}
		orig := bytes.Repeat([]byte{0x11}, fuzzSectors*SectorSize)
		require.NoError(t, os.WriteFile(img, orig, 0o644))
		ro := layout&layoutReadOnly != 0
		dev, err := Open(disk.Spec{Path: img, ReadOnly: ro}, nil)
		require.NoError(t, err)
		defer dev.Close()

		mem := guestmem.FromBytes(memBase, make([]byte, fuzzMemSize))
		drv := virtiotest.New(mem, memBase, 8)
		features := dev.Features() | virtio.FeatureVersion1 | virtio.FeatureRingIndirectDesc
		fails := 0
		q, err := virtio.NewQueue(mem, virtio.QueueConfig{Size: 8, DescAddr: drv.Desc, DriverAddr: drv.Avail,
			DeviceAddr: drv.Used, Features: features, Fail: func(error) { fails++ }})
		require.NoError(t, err)

		descs, in, st := fuzzChain(drv, typ, sector, payload, inLen, layout)
		if layout&layoutIndirect != 0 {
			table := drv.Alloc(16 * uint64(len(descs)))
			drv.WriteTable(table, descs)
			drv.SetDesc(0, virtiotest.Desc{Addr: table, Len: uint32(16 * len(descs)), Flags: virtiotest.FlagIndirect})
		} else {
			for i, d := range descs {
				drv.SetDesc(uint16(i), d)
			}
		}
		drv.Publish(0)
		req := &requestCtx{d: dev, features: features}
		var c virtio.Chain
		virtio.Drain(q, make(chan struct{}), &c, req.handle)

		after, err := os.ReadFile(img)
		require.NoError(t, err)
		require.Len(t, after, len(orig), "the image never changes size")
		if ro {
			require.Equal(t, orig, after, "a read-only image never changes")
		}
		used := drv.TakeUsed()
		if st == 0 {
			require.Equal(t, 1, fails, "no status byte: the queue fails")
			require.Empty(t, used)
			return
		}
		require.Zero(t, fails)
		require.Len(t, used, 1)
		status := drv.Bytes(st, 1)[0]
		require.Contains(t, []byte{StatusOK, StatusIOErr, StatusUnsupp}, status)
		if status != StatusOK || layout&layoutHeaderWrite != 0 {
			return
		}
		switch typ {
		case TypeIn:
			require.Equal(t, after[sector*SectorSize:sector*SectorSize+uint64(inLen)], drv.Bytes(in, uint64(inLen)), "read returned the image")
		case TypeOut:
			require.Equal(t, payload, after[sector*SectorSize:sector*SectorSize+uint64(len(payload))], "write reached the image")
		}
	})
}

// fuzzChain lays a request out as descriptors 0..n-1 and returns them, the
// address of the writable data and of the status byte (0 when there is none).
func fuzzChain(drv *virtiotest.Driver, typ uint32, sector uint64, payload []byte, inLen uint16, layout uint8) ([]virtiotest.Desc, uint64, uint64) {
	var descs []virtiotest.Desc
	add := func(addr uint64, n int, write bool) {
		if n == 0 {
			return
		}
		d := virtiotest.Desc{Addr: addr, Len: uint32(n)}
		if write {
			d.Flags = virtiotest.FlagWrite
		}
		descs = append(descs, d)
	}
	split := func(addr uint64, n int, write, two bool) {
		if two && n > 1 {
			add(addr, n/2, write)
			add(addr+uint64(n/2), n-n/2, write)
			return
		}
		add(addr, n, write)
	}
	hdr := make([]byte, headerSize)
	binary.LittleEndian.PutUint32(hdr[hdrType:], typ)
	binary.LittleEndian.PutUint64(hdr[hdrSector:], sector)
	split(drv.Put(hdr), headerSize, layout&layoutHeaderWrite != 0, layout&layoutSplitHeader != 0)
	if layout&layoutHeaderWrite == 0 {
		split(drv.Put(payload), len(payload), false, layout&layoutSplitPayload != 0)
	}
	var in, st uint64
	switch {
	case layout&layoutNoStatus != 0:
		// No writable buffer after the payload.
	case layout&layoutStatusInData != 0:
		in = drv.Alloc(uint64(inLen) + 1)
		split(in, int(inLen)+1, true, layout&layoutSplitIn != 0)
		st = in + uint64(inLen)
	default:
		in = drv.Alloc(uint64(inLen))
		split(in, int(inLen), true, layout&layoutSplitIn != 0)
		st = drv.Put([]byte{0xEE})
		add(st, 1, true)
	}
	if layout&layoutNoStatus != 0 && layout&layoutHeaderWrite != 0 && len(descs) > 0 {
		// A writable header is itself the last writable buffer: its last
		// byte takes the status.
		last := descs[len(descs)-1]
		st = last.Addr + uint64(last.Len) - 1
	}
	for i := range descs[:max(len(descs)-1, 0)] {
		descs[i].Flags |= virtiotest.FlagNext
		descs[i].Next = uint16(i + 1)
	}
	return descs, in, st
}
