package blk

import (
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
	memBase   = 0x10_0000
	memSize   = 4 << 20
	qSize     = 16
	diskBytes = 64 * SectorSize
)

// harness runs a Device's request path on fake guest memory, with the
// virtiotest driver playing the guest.
type harness struct {
	t        *testing.T
	mem      *guestmem.Memory
	drv      *virtiotest.Driver
	q        *virtio.Queue
	dev      *Device
	req      *requestCtx
	path     string
	failures []error
	chain    virtio.Chain
}

// newImage writes a disk image whose sector i is filled with byte i+1.
func newImage(t *testing.T, size int) string {
	t.Helper()
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i/SectorSize + 1)
	}
	path := filepath.Join(t.TempDir(), "disk.img")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path
}

func newHarness(t *testing.T, spec disk.Spec) *harness {
	t.Helper()
	dev, err := Open(spec, nil)
	require.NoError(t, err)
	t.Cleanup(func() { dev.Close() })
	h := &harness{t: t, dev: dev, path: spec.Path, mem: guestmem.FromBytes(memBase, make([]byte, memSize))}
	h.drv = virtiotest.New(h.mem, memBase, qSize)
	features := dev.Features() | virtio.FeatureVersion1 | virtio.FeatureRingIndirectDesc
	h.q, err = virtio.NewQueue(h.mem, virtio.QueueConfig{
		Size: qSize, DescAddr: h.drv.Desc, DriverAddr: h.drv.Avail, DeviceAddr: h.drv.Used,
		Features: features,
		Fail:     func(err error) { h.failures = append(h.failures, err) },
	})
	require.NoError(t, err)
	h.req = &requestCtx{d: dev, features: features}
	return h
}

// run lets the device drain the queue.
func (h *harness) run() {
	virtio.Drain(h.q, make(chan struct{}), &h.chain, h.req.handle)
}

func header(typ uint32, sector uint64) []byte {
	b := make([]byte, headerSize)
	binary.LittleEndian.PutUint32(b[hdrType:], typ)
	binary.LittleEndian.PutUint64(b[hdrSector:], sector)
	return b
}

func segment(sector uint64, count, flags uint32) []byte {
	b := make([]byte, segmentSize)
	binary.LittleEndian.PutUint64(b[segSector:], sector)
	binary.LittleEndian.PutUint32(b[segNumSectors:], count)
	binary.LittleEndian.PutUint32(b[segFlags:], flags)
	return b
}

// result is what the driver sees after a request.
type result struct {
	status byte
	in     []byte
	used   []virtiotest.Used
}

// do sends a well-formed request: header and out data readable, inLen
// bytes of in data and the status byte writable.
func (h *harness) do(typ uint32, sector uint64, out []byte, inLen uint32) result {
	bufs := []virtiotest.Buf{{Addr: h.drv.Put(header(typ, sector)), Len: headerSize}}
	if len(out) > 0 {
		bufs = append(bufs, virtiotest.Buf{Addr: h.drv.Put(out), Len: uint32(len(out))})
	}
	var in uint64
	if inLen > 0 {
		in = h.drv.Alloc(uint64(inLen))
		bufs = append(bufs, virtiotest.Buf{Addr: in, Len: inLen, Write: true})
	}
	st := h.drv.Put([]byte{0xEE})
	bufs = append(bufs, virtiotest.Buf{Addr: st, Len: 1, Write: true})
	return h.send(bufs, in, inLen, st)
}

func (h *harness) send(bufs []virtiotest.Buf, in uint64, inLen uint32, st uint64) result {
	h.drv.AddChain(bufs...)
	h.run()
	r := result{status: h.drv.Bytes(st, 1)[0], used: h.drv.TakeUsed()}
	if inLen > 0 {
		r.in = append([]byte(nil), h.drv.Bytes(in, uint64(inLen))...)
	}
	return r
}

func (h *harness) file() []byte {
	b, err := os.ReadFile(h.path)
	require.NoError(h.t, err)
	return b
}

func sectorOf(v byte) []byte {
	b := make([]byte, SectorSize)
	for i := range b {
		b[i] = v
	}
	return b
}
