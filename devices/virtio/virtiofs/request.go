package virtiofs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"log"
	"log/slog"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/gonest/gonest/devices/virtio"
	"github.com/gonest/gonest/devices/virtio/virtiofs/hostfs"

	"github.com/gonest/gonest/internal/iov"
)

// errNoReplySpace fails the queue: a request that needs a reply came
// without room for even the reply header, so it cannot be answered.
var errNoReplySpace = errors.New("virtio-fs request has no room for the 16-byte reply header")

// server is one FUSE session: go-fuse's protocol server in front of the
// host file system, behind the decoder's checks. Every queue's worker
// uses it.
type server struct {
	ps  *fuse.ProtocolServer
	fs  *hostfs.FS
	ro  bool
	log *slog.Logger

	// initMu makes INIT exclusive: go-fuse records the negotiated
	// settings without a lock, and a hostile guest may send INIT on two
	// queues at once.
	initMu   sync.RWMutex
	panicked atomic.Bool
	// onPanic, when set (tests), hears of every recovered panic.
	onPanic func(v any)
}

func newServer(fs *hostfs.FS, ro bool, log *slog.Logger) *server {
	s := &server{fs: fs, ro: ro, log: log}
	s.ps = fuse.NewProtocolServer(fs, &fuse.MountOptions{
		MaxWrite:      MaxWrite,
		DisableXAttrs: true,
		// PASSTHROUGH maps a backing file into the kernel of /dev/fuse;
		// virtio-fs never offers it, and gonest never asks.
		DisabledCapabilities: fuse.CAP_PASSTHROUGH,
		Logger:               newLimitedLogger(log),
		PanicHandler:         s.recovered,
	})
	return s
}

// recovered is told of a panic in request handling; the guest gets EIO.
func (s *server) recovered(v any) fuse.Status {
	if s.onPanic != nil {
		s.onPanic(v)
	}
	if s.panicked.CompareAndSwap(false, true) {
		s.log.Error("virtio-fs request handling panicked; the guest gets EIO (further panics are not logged)",
			"panic", v, "stack", string(debug.Stack()))
	}
	return fuse.EIO
}

// worker executes one queue's requests; it holds the scratch space so
// that decoding does not allocate.
type worker struct {
	s   *server
	hdr [inHeaderSize + ioSize + reservedNameLen]byte // the in header and the first body bytes the decoder reads
	in  [][]byte
}

// handle is the virtio.Handler. It checks the request's framing and
// limits, answers what go-fuse must not see, and hands the rest to
// go-fuse. Every malformed request gets an error reply; only a request
// with no room for a reply fails the queue.
func (w *worker) handle(c *virtio.Chain) (uint32, error) {
	out := c.Writable
	if c.Err != nil { // a buffer outside guest memory
		return replyStatus(out, 0, fuse.EIO), nil
	}
	h := w.hdr[:]
	got := iov.Gather(h, c.Readable)
	if got < inHeaderSize {
		return w.needReply(out, 0, fuse.EIO)
	}
	length := binary.LittleEndian.Uint32(h[inLen:])
	opcode := binary.LittleEndian.Uint32(h[inOpcode:])
	unique := binary.LittleEndian.Uint64(h[inUnique:])
	info, served := ops[opcode]
	if !served {
		return w.needReply(out, unique, fuse.ENOSYS)
	}
	if st := w.s.check(h[:got], length, c.ReadableLen(), info); !st.Ok() || reservedName(h[:min(got, int(length))], info) {
		if st.Ok() {
			st = fuse.EPERM
			if opcode == opLookup {
				st = fuse.ENOENT
			}
		}
		if info.noReply {
			return 0, nil
		}
		return w.needReply(out, unique, st)
	}
	if !info.noReply && c.WritableLen() < outHeaderSize {
		return 0, errNoReplySpace
	}
	switch opcode {
	case opSyncfs:
		return replyStatus(out, unique, w.s.fs.Syncfs()), nil
	case opDestroy:
		w.s.fs.Reset() // the guest unmounted: its nodes and files are gone
		return replyStatus(out, unique, fuse.OK), nil
	}
	w.in = iov.Trim(w.in[:0], c.Readable, uint64(length))
	n, st := w.s.call(w.in, out, opcode == opInit)
	clear(w.in)
	switch {
	case !st.Ok():
		if info.noReply {
			return 0, nil
		}
		return replyStatus(out, unique, st), nil
	case n > math.MaxUint32:
		return 0, errors.New("virtio-fs reply longer than 4 GiB") // go-fuse writes at most the writable length
	}
	return uint32(n), nil
}

// needReply answers a request the decoder refused with status, or, when
// there is no room for the answer, fails the queue.
func (w *worker) needReply(out [][]byte, unique uint64, st fuse.Status) (uint32, error) {
	if iov.Len(out) < outHeaderSize {
		return 0, errNoReplySpace
	}
	return replyStatus(out, unique, st), nil
}

// check applies the decoder's rules to a request with header h (and as
// much of its fixed body as was gathered after it) whose chain holds
// readable bytes in all.
func (s *server) check(h []byte, length uint32, readable uint64, info opInfo) fuse.Status {
	if length < inHeaderSize || uint64(length) > readable {
		return fuse.EIO // the header's len must cover the header and fit in the chain
	}
	body := int(length) - inHeaderSize
	limit := maxBody
	if info.write {
		limit = info.minBody + MaxWrite
	}
	switch {
	case body < info.minBody, body > limit:
		return fuse.EIO
	case binary.LittleEndian.Uint16(h[inTotalExtlen:]) != 0:
		return fuse.EIO // request extensions are not negotiated
	case s.ro && info.mutates:
		return fuse.EROFS
	case binary.LittleEndian.Uint64(h[inNodeID:]) == pollHackNode:
		return fuse.EBADF
	}
	// The fixed body is at least minBody long, and the worker gathered
	// its first bytes after the header; the lengths are checked again.
	b := h[inHeaderSize:]
	if info.sized && (len(b) < ioSize+4 || binary.LittleEndian.Uint32(b[ioSize:]) > MaxWrite) {
		return fuse.EINVAL
	}
	if binary.LittleEndian.Uint32(h[inOpcode:]) == opInit {
		// go-fuse would refuse these too, but through the global logger.
		if len(b) < initFlags+4 || binary.LittleEndian.Uint32(b[initMajor:]) != fuseMajor ||
			binary.LittleEndian.Uint32(b[initMinor:]) < fuseMinorMin {
			return fuse.EIO
		}
		// go-fuse does not pass this on: the kernel says it automounts
		// directories flagged as submounts.
		s.fs.SetSubmounts(binary.LittleEndian.Uint32(b[initFlags:])&fuseSubmounts != 0)
	}
	return fuse.OK
}

// go-fuse answers two things itself, for a workaround that only its
// /dev/fuse mounts need (fuse/poll.go): node ID 2^64-1, and the name
// ".go-fuse-epoll-hack" in the root, which get made-up answers. The
// decoder keeps both from it: the node is EBADF like any unknown node,
// and the name does not exist (LOOKUP) and cannot be made (EPERM).
const (
	pollHackNode    = ^uint64(0)
	pollHackName    = ".go-fuse-epoll-hack"
	reservedNameLen = len(pollHackName) + 1
)

// reservedName reports whether req (the header and the first bytes of
// the body, cut at the request's length) names go-fuse's reserved name
// in the root directory.
func reservedName(req []byte, info opInfo) bool {
	if !info.names || binary.LittleEndian.Uint64(req[inNodeID:]) != fuse.FUSE_ROOT_ID {
		return false
	}
	start := inHeaderSize + info.minBody
	if len(req) < start+len(pollHackName) {
		return false
	}
	name := req[start:]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	return string(name) == pollHackName
}

// call runs one request through go-fuse, INIT alone. A panic becomes EIO.
func (s *server) call(in, out [][]byte, init bool) (n int, st fuse.Status) {
	if init {
		s.initMu.Lock()
		defer s.initMu.Unlock()
	} else {
		s.initMu.RLock()
		defer s.initMu.RUnlock()
	}
	defer func() {
		if v := recover(); v != nil {
			n, st = 0, s.recovered(v)
		}
	}()
	return s.ps.HandleRequest(in, out)
}

// replyStatus writes a reply that is only a header carrying st and
// returns its length, or 0 when out has no room for it.
func replyStatus(out [][]byte, unique uint64, st fuse.Status) uint32 {
	var b [outHeaderSize]byte
	binary.LittleEndian.PutUint32(b[outLen:], outHeaderSize)
	binary.LittleEndian.PutUint32(b[outError:], uint32(-int32(st)))
	binary.LittleEndian.PutUint64(b[outUnique:], unique)
	if iov.Len(out) < outHeaderSize {
		return 0
	}
	iov.Scatter(out, b[:])
	return outHeaderSize
}

// maxLogged bounds what go-fuse may log per session: its messages are
// about requests a guest controls.
const maxLogged = 20

// limitedWriter passes go-fuse's log lines to slog at debug level, up to
// maxLogged of them.
type limitedWriter struct {
	log *slog.Logger
	n   atomic.Int32
}

func newLimitedLogger(l *slog.Logger) *log.Logger {
	return log.New(&limitedWriter{log: l}, "", 0)
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	switch n := w.n.Add(1); {
	case n <= maxLogged:
		w.log.Debug("go-fuse: " + string(trimNewline(p)))
	case n == maxLogged+1:
		w.log.Debug("go-fuse: further messages are not logged")
	}
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && p[len(p)-1] == '\n' {
		p = p[:len(p)-1]
	}
	return p
}
