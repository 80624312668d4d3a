package virtiofs

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gonest/gonest/devices/virtio"
	"github.com/gonest/gonest/devices/virtio/virtiotest"
)

// Layout bits of FuzzRequest's layout argument; the rest of it sizes the
// pieces.
const (
	fuzzHiprio    = 1 << 0 // send on the hiprio queue
	fuzzSplitOut  = 1 << 1 // the writable part in two buffers
	fuzzTinyOut   = 1 << 2 // writable length from bits 16-31, possibly under a header
	fuzzNoOut     = 1 << 3 // no writable buffer
	fuzzPieceMask = 0xff00 // readable piece size - 1, in bits 8-15
)

// FuzzRequest sends one arbitrary FUSE request, laid out in arbitrary
// ways, through the decoder, go-fuse and the file system, to a share
// whose session is initialized and that holds a file, a directory and a
// symlink pointing out of it. Whatever it is, the device must not panic
// (the harness records go-fuse's recovered panics too), must answer with
// a well-formed reply or none (FORGET), or fail the queue when there is
// no room for a reply; and no file outside the share may appear, change
// or vanish.
func FuzzRequest(f *testing.F) {
	h := newHarness(f, false)
	h.init()
	require.NoError(f, os.WriteFile(filepath.Join(h.dir, "f"), []byte("file"), 0o644))
	require.NoError(f, os.Mkdir(filepath.Join(h.dir, "d"), 0o755))
	require.NoError(f, os.Symlink(h.outside, filepath.Join(h.dir, "out")))
	fNode := h.mustLookup(root, "f").NodeId
	dNode := h.mustLookup(root, "d").NodeId
	outNode := h.mustLookup(root, "out").NodeId
	fh, _ := h.open(fNode, uint32(os.O_RDWR))
	var dir fuse.OpenOut
	h.decode(h.call(opOpendir, root, fuse.OpenIn{}), &dir)
	top := filepath.Dir(h.dir)

	seeds := [][]byte{
		h.encode(opLookup, root, fuse.InHeader{}, name("f")),
		h.encode(opLookup, outNode, fuse.InHeader{}, name("secret")),
		h.encode(opGetattr, fNode, fuse.GetAttrIn{}),
		h.encode(opSetattr, fNode, fuse.SetAttrIn{SetAttrInCommon: fuse.SetAttrInCommon{Valid: fuse.FATTR_SIZE | fuse.FATTR_MODE, Size: 2, Mode: 0o600}}),
		h.encode(opReadlink, outNode, fuse.InHeader{}),
		h.encode(opSymlink, dNode, fuse.InHeader{}, name("s"), name("../../x")),
		h.encode(opMknod, dNode, fuse.MknodIn{Mode: unix.S_IFIFO | 0o644}, name("p")),
		h.encode(opMkdir, dNode, fuse.MkdirIn{Mode: 0o755}, name("m")),
		h.encode(opUnlink, dNode, fuse.InHeader{}, name("s")),
		h.encode(opRmdir, dNode, fuse.InHeader{}, name("m")),
		h.encode(opRename, root, struct {
			fuse.InHeader
			Newdir uint64
		}{Newdir: dNode}, name("f"), name("g")),
		h.encode(opRename2, dNode, fuse.RenameIn{Newdir: root, Flags: unix.RENAME_NOREPLACE}, name("g"), name("f")),
		h.encode(opLink, dNode, fuse.LinkIn{Oldnodeid: fNode}, name("hard")),
		h.encode(opOpen, fNode, fuse.OpenIn{Flags: uint32(os.O_RDWR)}),
		h.encode(opRead, fNode, fuse.ReadIn{Fh: fh, Size: 4096}),
		h.encode(opWrite, fNode, fuse.WriteIn{Fh: fh, Offset: 2, Size: 3}, []byte("abc")),
		h.encode(opStatfs, root, fuse.InHeader{}),
		h.encode(opRelease, fNode, fuse.ReleaseIn{Fh: fh + 1}),
		h.encode(opFsync, fNode, fuse.FsyncIn{Fh: fh, FsyncFlags: 1}),
		h.encode(opFlush, fNode, fuse.FlushIn{Fh: fh}),
		h.encode(opInit, 0, fuse.InitIn{Major: 7, Minor: 36, Flags: fuse.CAP_MAX_PAGES | fuse.CAP_READDIRPLUS}),
		h.encode(opOpendir, dNode, fuse.OpenIn{}),
		h.encode(opReaddir, root, fuse.ReadIn{Fh: dir.Fh, Size: 4096}),
		h.encode(opReaddirplus, root, fuse.ReadIn{Fh: dir.Fh, Size: 4096}),
		h.encode(opReleasedir, root, fuse.ReleaseIn{Fh: dir.Fh}),
		h.encode(opFsyncdir, root, fuse.FsyncIn{Fh: dir.Fh}),
		h.encode(opCreate, dNode, fuse.CreateIn{Flags: uint32(os.O_CREATE | os.O_RDWR), Mode: 0o644}, name("c")),
		h.encode(opBatchForget, 0, struct {
			fuse.InHeader
			Count, Dummy uint32
		}{Count: 2}, make([]byte, 32)),
		h.encode(opForget, dNode, fuse.ForgetIn{Nlookup: 1}),
		h.encode(opFallocate, fNode, fuse.FallocateIn{Fh: fh, Length: 8192}),
		h.encode(opLseek, fNode, fuse.LseekIn{Fh: fh, Whence: unix.SEEK_DATA}),
		h.encode(opSyncfs, root, fuse.InHeader{}, make([]byte, 8)),
		h.encode(opDestroy, root, fuse.InHeader{}),
		h.encode(22, fNode, fuse.GetXAttrIn{Size: 100}, name("user.x")),
	}
	for i, s := range seeds {
		f.Add(uint32(i%7)<<8|uint32(i%3)<<1, s)
	}
	f.Add(uint32(fuzzTinyOut|8<<16), seeds[0])
	f.Add(uint32(fuzzNoOut), seeds[2])
	f.Add(uint32(fuzzHiprio), seeds[len(seeds)-6])

	f.Fuzz(func(t *testing.T, layout uint32, req []byte) {
		h.t = t
		if len(req) > bufSize || reservesSpace(req) {
			return
		}
		qi := 1
		if layout&fuzzHiprio != 0 {
			qi = 0
		}
		q := h.queues[qi]
		copy(q.drv.Bytes(q.in, uint64(len(req))), req)
		// Readable pieces: a few hundred at most, within the queue.
		piece := max(int(layout&fuzzPieceMask>>8)+1, len(req)/100+1)
		var bufs []virtiotest.Buf
		for off := 0; off < len(req); off += piece {
			bufs = append(bufs, virtiotest.Buf{Addr: q.in + uint64(off), Len: uint32(min(piece, len(req)-off))})
		}
		outLen := uint32(bufSize)
		if layout&fuzzTinyOut != 0 {
			outLen = min(layout>>16, bufSize)
		}
		if layout&fuzzNoOut != 0 {
			outLen = 0
		}
		clear(q.drv.Bytes(q.out, bufSize))
		switch {
		case outLen == 0:
		case layout&fuzzSplitOut != 0 && outLen > 1:
			bufs = append(bufs, virtiotest.Buf{Addr: q.out, Len: outLen / 2, Write: true},
				virtiotest.Buf{Addr: q.out + uint64(outLen/2), Len: outLen - outLen/2, Write: true})
		default:
			bufs = append(bufs, virtiotest.Buf{Addr: q.out, Len: outLen, Write: true})
		}
		if len(bufs) == 0 {
			bufs = append(bufs, virtiotest.Buf{Addr: q.in, Len: 0})
		}
		q.drv.AddChain(bufs...)
		virtio.Drain(q.q, make(chan struct{}), &q.chain, q.w.handle)
		used := q.drv.TakeUsed()

		require.Empty(t, h.panics, "the request made the device panic")
		if len(h.fails) > 0 {
			// Only a request with no room for its reply may fail the queue.
			require.ErrorIs(t, h.fails[0], errNoReplySpace)
			require.Less(t, outLen, uint32(outHeaderSize))
			h.fails = nil
			h.newQueue(qi)
		} else {
			require.Len(t, used, 1)
			require.LessOrEqual(t, used[0].Len, outLen)
			if used[0].Len > 0 {
				h.parse(append([]byte(nil), q.drv.Bytes(q.out, uint64(used[0].Len))...))
			}
		}
		entries, err := os.ReadDir(top)
		require.NoError(t, err)
		assert.Len(t, entries, 2, "nothing appears beside the share")
		h.outsideUnchanged()
	})
}

// reservesSpace spots a FALLOCATE of more than a megabyte, which would
// really reserve that much of the test machine's disk.
func reservesSpace(req []byte) bool {
	const length = inHeaderSize + 16 // fuse_fallocate_in.length
	return len(req) >= length+8 && binary.LittleEndian.Uint32(req[inOpcode:]) == opFallocate &&
		binary.LittleEndian.Uint64(req[length:]) > 1<<20
}
