package virtiofs

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices/virtio"
	"github.com/gonest/gonest/devices/virtio/virtiotest"
)

// Malformed requests get an error reply; the device never panics (the
// harness fails a test that makes it) and the queue keeps working.

// header builds a bare fuse_in_header.
func header(length, opcode uint32, unique, node uint64) []byte {
	b := make([]byte, inHeaderSize)
	binary.LittleEndian.PutUint32(b[inLen:], length)
	binary.LittleEndian.PutUint32(b[inOpcode:], opcode)
	binary.LittleEndian.PutUint64(b[inUnique:], unique)
	binary.LittleEndian.PutUint64(b[inNodeID:], node)
	return b
}

// expect sends req and checks the reply is exactly a header with st.
func (h *harness) expect(req []byte, unique uint64, st fuse.Status) {
	h.t.Helper()
	r := h.parse(h.raw(1, req, bufSize))
	assert.Equal(h.t, st, r.status)
	assert.Equal(h.t, unique, r.unique)
	assert.Empty(h.t, r.body)
}

func TestMalformedFraming(t *testing.T) {
	h := newHarness(t, false)
	h.init()
	full := header(inHeaderSize, opStatfs, 77, root)
	for n := 1; n < inHeaderSize; n++ {
		h.expect(full[:n], 0, fuse.EIO) // too short to say which request it is
	}
	h.expect(header(0, opStatfs, 78, root), 78, fuse.EIO)
	h.expect(header(inHeaderSize-1, opStatfs, 79, root), 79, fuse.EIO)
	h.expect(header(inHeaderSize+1, opStatfs, 80, root), 80, fuse.EIO) // len past the chain
	h.expect(header(^uint32(0), opStatfs, 81, root), 81, fuse.EIO)
	ext := header(inHeaderSize+8, opStatfs, 82, root)
	binary.LittleEndian.PutUint16(ext[inTotalExtlen:], 1)
	h.expect(append(ext, make([]byte, 8)...), 82, fuse.EIO) // extensions are not negotiated
	// Bytes after len are not part of the request.
	r := h.parse(h.raw(1, append(header(inHeaderSize, opStatfs, 83, root), 0xde, 0xad), bufSize))
	assert.Equal(t, fuse.OK, r.status)
	assert.Empty(t, h.fails, "no malformed request fails the queue")
}

func TestMalformedUnknownOpcodes(t *testing.T) {
	h := newHarness(t, false)
	h.init()
	for _, op := range []uint32{0, 7, 19, 21, 22, 23, 24, 31, 32, 33, 34, 36, 37, 39, 40, 41, 47, 48, 49, 51, 52, 53, 99, 4096, ^uint32(0)} {
		h.expect(append(header(inHeaderSize+64, op, uint64(op)+1, root), make([]byte, 64)...), uint64(op)+1, fuse.ENOSYS)
	}
}

func TestMalformedShortBodies(t *testing.T) {
	h := newHarness(t, false)
	h.init()
	for op, info := range ops {
		for body := 0; body < info.minBody; body++ {
			req := append(header(uint32(inHeaderSize+body), op, 5, root), make([]byte, body)...)
			if info.noReply {
				assert.Empty(t, h.raw(1, req, bufSize), "op %d", op)
				continue
			}
			h.expect(req, 5, fuse.EIO)
		}
	}
}

func TestMalformedSizes(t *testing.T) {
	h := newHarness(t, false)
	h.init()
	require.NoError(t, os.WriteFile(filepath.Join(h.dir, "f"), make([]byte, 100), 0o644))
	f := h.mustLookup(root, "f")
	fh, st := h.open(f.NodeId, uint32(os.O_RDWR))
	require.Equal(t, fuse.OK, st)

	for _, size := range []uint32{MaxWrite + 1, 1 << 30, ^uint32(0)} {
		_, st := h.read(f.NodeId, fh, 0, size)
		assert.Equal(t, fuse.EINVAL, st, "READ of %d bytes", size)
		r := h.call(opReaddirplus, root, fuse.ReadIn{Size: size})
		assert.Equal(t, fuse.EINVAL, r.status, "READDIRPLUS of %d bytes", size)
	}
	// A READ larger than the guest's reply buffer.
	req := h.encode(opRead, f.NodeId, fuse.ReadIn{Fh: fh, Size: 4096})
	r := h.parse(h.raw(1, req, outHeaderSize+100))
	assert.Equal(t, fuse.EIO, r.status)

	// A WRITE whose size field disagrees with its data, or too big.
	r = h.call(opWrite, f.NodeId, fuse.WriteIn{Fh: fh, Size: 10}, []byte("abc"))
	assert.Equal(t, fuse.EINVAL, r.status)
	r = h.call(opWrite, f.NodeId, fuse.WriteIn{Fh: fh, Size: 0}, []byte("abc"))
	assert.Equal(t, fuse.EINVAL, r.status)
	r = h.call(opWrite, f.NodeId, fuse.WriteIn{Fh: fh, Size: MaxWrite + 1}, make([]byte, MaxWrite+1))
	assert.Equal(t, fuse.EIO, r.status)
	r = h.call(opWrite, f.NodeId, fuse.WriteIn{Fh: fh, Offset: 1 << 63, Size: 1}, []byte("x"))
	assert.Equal(t, fuse.EINVAL, r.status, "offset past int64")
	assert.Equal(t, make([]byte, 100), h.hostFile(h.dir, "f"))

	// Names: too long for any request but WRITE.
	r = h.call(opLookup, root, fuse.InHeader{}, make([]byte, maxBody+1))
	assert.Equal(t, fuse.EIO, r.status)

	// INIT from another protocol.
	r = h.call(opInit, 0, fuse.InitIn{Major: 6, Minor: 36})
	assert.Equal(t, fuse.EIO, r.status)
	r = h.call(opInit, 0, fuse.InitIn{Major: 7, Minor: 11})
	assert.Equal(t, fuse.EIO, r.status)
}

// TestMalformedChains: requests split every which way, buffers outside
// guest memory, too little room for a reply.
func TestMalformedChains(t *testing.T) {
	h := newHarness(t, false)
	h.init()
	require.NoError(t, os.WriteFile(filepath.Join(h.dir, "split"), []byte("s"), 0o644))
	q := h.queues[1]

	// One byte per descriptor, header and name alike.
	req := h.encode(opLookup, root, fuse.InHeader{}, name("split"))
	copy(q.drv.Bytes(q.in, uint64(len(req))), req)
	var bufs []virtiotest.Buf
	for i := range req {
		bufs = append(bufs, virtiotest.Buf{Addr: q.in + uint64(i), Len: 1})
	}
	for i := uint64(0); i < 200; i++ {
		bufs = append(bufs, virtiotest.Buf{Addr: q.out + i, Len: 1, Write: true})
	}
	used := h.sendBufs(1, bufs...)
	reply := h.parse(append([]byte(nil), q.drv.Bytes(q.out, uint64(used.Len))...))
	require.Equal(t, fuse.OK, reply.status)
	var e fuse.EntryOut
	h.decode(reply, &e)
	assert.Equal(t, uint64(1), e.Attr.Size)

	// A buffer outside guest memory: EIO.
	used = h.sendBufs(1, virtiotest.Buf{Addr: 0x10, Len: 64}, virtiotest.Buf{Addr: q.out, Len: 64, Write: true})
	assert.Equal(t, uint32(outHeaderSize), used.Len)
	assert.Equal(t, fuse.EIO, h.parse(append([]byte(nil), q.drv.Bytes(q.out, 16)...)).status)

	// Room for the error header but not the entry: EIO.
	r := h.parse(h.raw(1, h.encode(opLookup, root, fuse.InHeader{}, name("split")), outHeaderSize))
	assert.Equal(t, fuse.EIO, r.status)
	assert.Empty(t, h.fails)

	// FORGET needs no room at all, on either queue.
	assert.Empty(t, h.raw(0, h.encode(opForget, e.NodeId, fuse.ForgetIn{Nlookup: 1}), 0))
	assert.Empty(t, h.raw(1, h.encode(opBatchForget, 0, struct {
		fuse.InHeader
		Count, Dummy uint32
	}{Count: 1000}, make([]byte, 16)), 0), "BATCH_FORGET with fewer entries than its count")
	assert.Empty(t, h.fails)

	// A request that needs a reply with nowhere to put it cannot be
	// answered: the queue stops and the device asks for a reset.
	req = h.encode(opGetattr, root, fuse.GetAttrIn{})
	copy(q.drv.Bytes(q.in, uint64(len(req))), req)
	q.drv.AddChain(virtiotest.Buf{Addr: q.in, Len: uint32(len(req))})
	virtio.Drain(q.q, make(chan struct{}), &q.chain, q.w.handle)
	assert.Empty(t, q.drv.TakeUsed())
	require.Len(t, h.fails, 1)
	assert.ErrorIs(t, h.fails[0], errNoReplySpace)
}
