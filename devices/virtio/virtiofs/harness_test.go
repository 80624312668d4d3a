package virtiofs

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices/virtio"
	"github.com/gonest/gonest/devices/virtio/virtiotest"
	"github.com/gonest/gonest/guestmem"
)

// The harness plays the guest kernel's virtio-fs driver: it writes FUSE
// requests into fake guest memory, chains them on the hiprio or request
// queue with the virtiotest driver, lets the device drain the queue, and
// reads the reply back from the used ring.

const (
	regionSize = 8 << 20
	bufSize    = MaxWrite + 64<<10 // the largest request or reply, plus headers
)

type harness struct {
	t       testing.TB
	dir     string // the share
	outside string // a sibling of the share the guest must never reach
	dev     *Device
	s       *server
	mem     *guestmem.Memory
	regions []guestmem.Region
	queues  []*queue
	unique  uint64
	panics  []any
	fails   []error
}

// queue is one virtqueue with its fake driver and two fixed buffers that
// every request reuses.
type queue struct {
	drv     *virtiotest.Driver
	q       *virtio.Queue
	w       *worker
	in, out uint64
	chain   virtio.Chain
}

// newHarness shares a fresh directory, read-only or not, with a sibling
// directory "outside" holding "secret".
func newHarness(t testing.TB, ro bool) *harness {
	t.Helper()
	top := t.TempDir()
	h := &harness{t: t, dir: filepath.Join(top, "share"), outside: filepath.Join(top, "outside")}
	require.NoError(t, os.Mkdir(h.dir, 0o755))
	require.NoError(t, os.Mkdir(h.outside, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(h.outside, "secret"), []byte("SECRET"), 0o644))
	dev, err := New(Spec{Dir: h.dir, Tag: "share", ReadOnly: ro}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { dev.Close() })
	h.dev = dev
	h.s = newServer(dev.fs, ro, dev.log)
	h.s.onPanic = func(v any) { h.panics = append(h.panics, v) }
	t.Cleanup(func() { require.Empty(t, h.panics, "a request made the device panic") })
	for i := range dev.QueueSizes() {
		h.regions = append(h.regions, guestmem.Region{GPA: uint64(i+1) << 32, Data: make([]byte, regionSize)})
	}
	mem, err := guestmem.New(h.regions...)
	require.NoError(t, err)
	h.mem = mem
	h.queues = make([]*queue, len(h.regions))
	for i := range h.queues {
		h.newQueue(i)
	}
	return h
}

// newQueue sets queue i up afresh in a zeroed region, as a driver does
// after a reset.
func (h *harness) newQueue(i int) {
	h.t.Helper()
	clear(h.regions[i].Data)
	size := h.dev.QueueSizes()[i]
	drv := virtiotest.New(h.mem, h.regions[i].GPA, size)
	q, err := virtio.NewQueue(h.mem, virtio.QueueConfig{
		Index: i, Size: size, DescAddr: drv.Desc, DriverAddr: drv.Avail, DeviceAddr: drv.Used,
		Features: virtio.FeatureVersion1 | virtio.FeatureRingIndirectDesc,
		Fail:     func(err error) { h.fails = append(h.fails, err) },
	})
	require.NoError(h.t, err)
	h.queues[i] = &queue{drv: drv, q: q, w: &worker{s: h.s}, in: drv.Alloc(bufSize), out: drv.Alloc(bufSize)}
}

// sendBufs chains bufs on queue qi, lets the device run, and returns the
// used element.
func (h *harness) sendBufs(qi int, bufs ...virtiotest.Buf) virtiotest.Used {
	h.t.Helper()
	q := h.queues[qi]
	q.drv.AddChain(bufs...)
	virtio.Drain(q.q, make(chan struct{}), &q.chain, q.w.handle)
	used := q.drv.TakeUsed()
	require.Len(h.t, used, 1)
	return used[0]
}

// raw sends req on queue qi with outLen writable bytes and returns the
// reply bytes the device reported.
func (h *harness) raw(qi int, req []byte, outLen uint32) []byte {
	h.t.Helper()
	q := h.queues[qi]
	copy(q.drv.Bytes(q.in, uint64(len(req))), req)
	bufs := []virtiotest.Buf{{Addr: q.in, Len: uint32(len(req))}}
	if outLen > 0 {
		clear(q.drv.Bytes(q.out, uint64(outLen)))
		bufs = append(bufs, virtiotest.Buf{Addr: q.out, Len: outLen, Write: true})
	}
	used := h.sendBufs(qi, bufs...)
	require.LessOrEqual(h.t, used.Len, outLen)
	return append([]byte(nil), q.drv.Bytes(q.out, uint64(used.Len))...)
}

// encode builds a request: in, a go-fuse input struct that starts with an
// InHeader (or an InHeader alone), then the payloads. It fills the
// header's length, opcode, node and a fresh unique.
func (h *harness) encode(opcode uint32, node uint64, in any, payload ...[]byte) []byte {
	h.t.Helper()
	var b bytes.Buffer
	require.NoError(h.t, binary.Write(&b, binary.LittleEndian, in))
	for _, p := range payload {
		b.Write(p)
	}
	req := b.Bytes()
	h.unique++
	binary.LittleEndian.PutUint32(req[inLen:], uint32(len(req)))
	binary.LittleEndian.PutUint32(req[inOpcode:], opcode)
	binary.LittleEndian.PutUint64(req[inUnique:], h.unique)
	binary.LittleEndian.PutUint64(req[16:], node) // fuse_in_header.nodeid
	return req
}

// reply is a parsed FUSE reply.
type reply struct {
	status fuse.Status
	unique uint64
	body   []byte
}

func (h *harness) parse(b []byte) reply {
	h.t.Helper()
	require.GreaterOrEqual(h.t, len(b), outHeaderSize, "reply shorter than its header")
	n := binary.LittleEndian.Uint32(b[outLen:])
	require.Equal(h.t, uint32(len(b)), n, "reply header len must match the used length")
	return reply{
		status: fuse.Status(-int32(binary.LittleEndian.Uint32(b[outError:]))),
		unique: binary.LittleEndian.Uint64(b[outUnique:]),
		body:   b[outHeaderSize:],
	}
}

// call sends a request on the request queue and parses the reply.
func (h *harness) call(opcode uint32, node uint64, in any, payload ...[]byte) reply {
	h.t.Helper()
	r := h.parse(h.raw(1, h.encode(opcode, node, in, payload...), bufSize))
	require.Equal(h.t, h.unique, r.unique)
	return r
}

// decode reads a reply body into a go-fuse output struct.
func (h *harness) decode(r reply, out any) {
	h.t.Helper()
	require.Equal(h.t, fuse.OK, r.status)
	require.NoError(h.t, binary.Read(bytes.NewReader(r.body), binary.LittleEndian, out))
}

func name(s string) []byte { return append([]byte(s), 0) }

// initOut is struct fuse_init_out (go-fuse's has an unexported field
// that encoding/binary cannot fill).
type initOut struct {
	Major, Minor, MaxReadAhead, Flags  uint32
	MaxBackground, CongestionThreshold uint16
	MaxWrite, TimeGran                 uint32
	MaxPages, MapAlignment             uint16
	Flags2, MaxStackDepth              uint32
	RequestTimeout                     uint16
	_                                  [11]uint16
}

// init negotiates the session as Linux 6.1 does (FUSE 7.36 with
// MAX_PAGES, READDIRPLUS, ...), and returns the device's answer.
func (h *harness) init() initOut {
	h.t.Helper()
	in := fuse.InitIn{Major: 7, Minor: 36, MaxReadAhead: 128 << 10,
		Flags: fuse.CAP_ASYNC_READ | fuse.CAP_BIG_WRITES | fuse.CAP_READDIRPLUS | fuse.CAP_MAX_PAGES |
			fuse.CAP_AUTO_INVAL_DATA | fuse.CAP_PARALLEL_DIROPS | fuse.CAP_INIT_EXT}
	var out initOut
	r := h.call(opInit, 0, in)
	require.Equal(h.t, fuse.OK, r.status)
	require.NoError(h.t, binary.Read(bytes.NewReader(r.body), binary.LittleEndian, &out))
	return out
}

func (h *harness) lookup(parent uint64, n string) (fuse.EntryOut, fuse.Status) {
	h.t.Helper()
	r := h.call(opLookup, parent, fuse.InHeader{}, name(n))
	var out fuse.EntryOut
	if r.status.Ok() {
		h.decode(r, &out)
	}
	return out, r.status
}

func (h *harness) mustLookup(parent uint64, n string) fuse.EntryOut {
	h.t.Helper()
	e, st := h.lookup(parent, n)
	require.Equal(h.t, fuse.OK, st, "LOOKUP %q", n)
	return e
}

func (h *harness) open(node uint64, flags uint32) (uint64, fuse.Status) {
	h.t.Helper()
	r := h.call(opOpen, node, fuse.OpenIn{Flags: flags})
	var out fuse.OpenOut
	if r.status.Ok() {
		h.decode(r, &out)
	}
	return out.Fh, r.status
}

func (h *harness) read(node, fh, off uint64, size uint32) ([]byte, fuse.Status) {
	h.t.Helper()
	r := h.call(opRead, node, fuse.ReadIn{Fh: fh, Offset: off, Size: size})
	return r.body, r.status
}

func (h *harness) write(node, fh, off uint64, data []byte) (uint32, fuse.Status) {
	h.t.Helper()
	r := h.call(opWrite, node, fuse.WriteIn{Fh: fh, Offset: off, Size: uint32(len(data))}, data)
	var out fuse.WriteOut
	if r.status.Ok() {
		h.decode(r, &out)
	}
	return out.Size, r.status
}

func (h *harness) create(parent uint64, n string, flags, mode uint32) (fuse.CreateOut, fuse.Status) {
	h.t.Helper()
	r := h.call(opCreate, parent, fuse.CreateIn{Flags: flags, Mode: mode}, name(n))
	var out fuse.CreateOut
	if r.status.Ok() {
		h.decode(r, &out)
	}
	return out, r.status
}

func (h *harness) getattr(node uint64) (fuse.AttrOut, fuse.Status) {
	h.t.Helper()
	r := h.call(opGetattr, node, fuse.GetAttrIn{})
	var out fuse.AttrOut
	if r.status.Ok() {
		h.decode(r, &out)
	}
	return out, r.status
}

// readFile opens node, reads it whole in chunks of size and closes it.
func (h *harness) readFile(node uint64, size uint32) ([]byte, fuse.Status) {
	h.t.Helper()
	fh, st := h.open(node, uint32(os.O_RDONLY))
	if !st.Ok() {
		return nil, st
	}
	defer h.call(opRelease, node, fuse.ReleaseIn{Fh: fh})
	var all []byte
	for {
		b, st := h.read(node, fh, uint64(len(all)), size)
		if !st.Ok() {
			return nil, st
		}
		all = append(all, b...)
		if len(b) < int(size) {
			return all, fuse.OK
		}
	}
}

// hostFile reads a file of the share or of outside on the host.
func (h *harness) hostFile(path ...string) []byte {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(path...))
	require.NoError(h.t, err)
	return b
}
