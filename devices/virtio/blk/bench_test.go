package blk

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices/disk"
	"github.com/gonest/gonest/devices/virtio"
	"github.com/gonest/gonest/devices/virtio/virtiotest"
	"github.com/gonest/gonest/guestmem"
)

// BenchmarkSequentialRead measures the request path (walk, header parse,
// preadv into guest memory, used ring) for 64 KiB sequential reads of a
// 32 MiB image in the page cache, 32 requests per batch.
func BenchmarkSequentialRead(b *testing.B) {
	const (
		imgSize = 32 << 20
		reqSize = 64 << 10
		batch   = 32
		ringSz  = 256
	)
	img := filepath.Join(b.TempDir(), "bench.img")
	require.NoError(b, os.WriteFile(img, make([]byte, imgSize), 0o644))
	dev, err := Open(disk.Spec{Path: img}, nil)
	require.NoError(b, err)
	defer dev.Close()
	mem := guestmem.FromBytes(memBase, make([]byte, 8<<20))
	drv := virtiotest.New(mem, memBase, ringSz)
	features := dev.Features() | virtio.FeatureVersion1 | virtio.FeatureRingEventIdx
	q, err := virtio.NewQueue(mem, virtio.QueueConfig{Size: ringSz, DescAddr: drv.Desc, DriverAddr: drv.Avail,
		DeviceAddr: drv.Used, Features: features})
	require.NoError(b, err)
	req := &requestCtx{d: dev, features: features}
	type slot struct{ hdr, data, st uint64 }
	slots := make([]slot, batch)
	for i := range slots {
		slots[i] = slot{hdr: drv.Alloc(headerSize), data: drv.Alloc(reqSize), st: drv.Alloc(1)}
	}
	stop := make(chan struct{})
	var c virtio.Chain
	sector := uint64(0)
	b.SetBytes(reqSize * batch)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, s := range slots {
			copy(drv.Bytes(s.hdr, headerSize), header(TypeIn, sector))
			sector = (sector + reqSize/SectorSize) % (imgSize / SectorSize)
			drv.AddChain(virtiotest.Buf{Addr: s.hdr, Len: headerSize},
				virtiotest.Buf{Addr: s.data, Len: reqSize, Write: true},
				virtiotest.Buf{Addr: s.st, Len: 1, Write: true})
		}
		virtio.Drain(q, stop, &c, req.handle)
		if n := len(drv.TakeUsed()); n != batch {
			b.Fatalf("%d of %d requests completed", n, batch)
		}
	}
}
