package blk

import (
	"encoding/binary"
	"errors"
	"math"

	"golang.org/x/sys/unix"

	"github.com/gonest/gonest/devices/virtio"

	"github.com/gonest/gonest/internal/iov"
)

// errNoStatus fails the queue: a chain without a writable status byte
// cannot be answered at all.
var errNoStatus = errors.New("virtio-blk request has no writable status byte")

// iovMax is how many buffers one preadv/pwritev takes (Linux's IOV_MAX).
const iovMax = 1024

// requestCtx executes requests for one queue; it holds scratch space so
// the request path does not allocate.
type requestCtx struct {
	d        *Device
	features uint64
	iov      [][]byte
	hdr      [headerSize]byte
	segs     [max(maxDiscardSeg, maxWriteZeroesSeg) * segmentSize]byte
}

// handle is the virtio.Handler: it writes the status byte (the last
// writable byte of the chain) and reports the whole writable length as
// used, as the status byte sits at its end.
func (r *requestCtx) handle(c *virtio.Chain) (uint32, error) {
	if len(c.Writable) == 0 || len(c.Writable[len(c.Writable)-1]) == 0 {
		return 0, errNoStatus
	}
	last := c.Writable[len(c.Writable)-1]
	last[len(last)-1] = r.execute(c)
	return uint32(min(c.WritableLen(), math.MaxUint32)), nil
}

// execute runs one request and returns its status. The chain is
// [header | data out ...] readable, then [data in ... | status] writable.
func (r *requestCtx) execute(c *virtio.Chain) byte {
	if c.Err != nil {
		return StatusIOErr // a buffer outside guest memory
	}
	if gather(r.hdr[:], c.Readable, 0) < headerSize {
		return StatusIOErr // the header must be 16 device-readable bytes
	}
	typ := binary.LittleEndian.Uint32(r.hdr[hdrType:])
	sector := binary.LittleEndian.Uint64(r.hdr[hdrSector:])
	extraIn := c.ReadableLen() - headerSize // readable bytes after the header
	dataOut := c.WritableLen() - 1          // writable bytes before the status byte
	ro := r.d.spec.ReadOnly
	switch typ {
	case TypeIn:
		if extraIn != 0 {
			return StatusIOErr
		}
		return r.read(sector, r.span(c.Writable, 0, dataOut))
	case TypeOut:
		if ro || dataOut != 0 {
			return StatusIOErr // a read-only disk writes nothing
		}
		return r.write(sector, r.span(c.Readable, headerSize, extraIn))
	case TypeFlush:
		return r.flush()
	case TypeGetID:
		if extraIn != 0 || dataOut == 0 {
			return StatusIOErr
		}
		scatter(r.span(c.Writable, 0, min(dataOut, IDBytes)), r.d.serial[:])
		return StatusOK
	case TypeDiscard, TypeWriteZeroes:
		if ro {
			return StatusIOErr
		}
		feature, maxSeg, maxSectors := uint64(FeatureDiscard), uint64(maxDiscardSeg), uint32(maxDiscardSectors)
		if typ == TypeWriteZeroes {
			feature, maxSeg, maxSectors = FeatureWriteZeroes, maxWriteZeroesSeg, maxWriteZeroesSectors
		}
		if r.features&feature == 0 {
			return StatusUnsupp
		}
		if extraIn == 0 || extraIn%segmentSize != 0 || extraIn/segmentSize > maxSeg || dataOut != 0 {
			return StatusIOErr
		}
		segs := r.segs[:extraIn]
		gather(segs, c.Readable, headerSize)
		return r.segments(typ, segs, maxSectors)
	default:
		return StatusUnsupp
	}
}

// inRange reports whether n bytes at sector lie inside the disk and are
// whole sectors.
func (r *requestCtx) inRange(sector, n uint64) bool {
	if n%SectorSize != 0 {
		return false
	}
	count := n / SectorSize
	return count <= r.d.sectors && sector <= r.d.sectors-count
}

func (r *requestCtx) read(sector uint64, bufs [][]byte) byte {
	n := iov.Len(bufs)
	if !r.inRange(sector, n) {
		return StatusIOErr
	}
	off := int64(sector * SectorSize)
	for len(bufs) > 0 {
		got, err := unix.Preadv(r.d.fd, bufs[:min(len(bufs), iovMax)], off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || got == 0 {
			if err == nil {
				err = errors.New("image shrank under the guest")
			}
			r.d.ioError("read", err)
			return StatusIOErr
		}
		off += int64(got)
		bufs = iov.Advance(bufs, uint64(got))
	}
	return StatusOK
}

func (r *requestCtx) write(sector uint64, bufs [][]byte) byte {
	n := iov.Len(bufs)
	if !r.inRange(sector, n) {
		return StatusIOErr
	}
	off := int64(sector * SectorSize)
	for len(bufs) > 0 {
		put, err := unix.Pwritev(r.d.fd, bufs[:min(len(bufs), iovMax)], off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || put == 0 {
			if err == nil {
				err = errors.New("short write")
			}
			r.d.ioError("write", err)
			return StatusIOErr
		}
		off += int64(put)
		bufs = iov.Advance(bufs, uint64(put))
	}
	return StatusOK
}

func (r *requestCtx) flush() byte {
	if r.d.spec.ReadOnly {
		return StatusOK // nothing was written
	}
	if err := r.d.img.Sync(); err != nil {
		r.d.ioError("flush", err)
		return StatusIOErr
	}
	return StatusOK
}

// segments checks every discard/write-zeroes segment, then executes them.
func (r *requestCtx) segments(typ uint32, segs []byte, maxSectors uint32) byte {
	for i := 0; i < len(segs); i += segmentSize {
		flags := binary.LittleEndian.Uint32(segs[i+segFlags:])
		if flags&^SegFlagUnmap != 0 || (typ == TypeDiscard && flags&SegFlagUnmap != 0) {
			return StatusUnsupp // virtio 1.2 §5.2.6.2: unknown flags, or unmap on a discard
		}
	}
	for i := 0; i < len(segs); i += segmentSize {
		sector := binary.LittleEndian.Uint64(segs[i+segSector:])
		count := binary.LittleEndian.Uint32(segs[i+segNumSectors:])
		if count > maxSectors || !r.inRange(sector, uint64(count)*SectorSize) {
			return StatusIOErr
		}
	}
	for i := 0; i < len(segs); i += segmentSize {
		sector := binary.LittleEndian.Uint64(segs[i+segSector:])
		count := binary.LittleEndian.Uint32(segs[i+segNumSectors:])
		unmap := binary.LittleEndian.Uint32(segs[i+segFlags:])&SegFlagUnmap != 0
		if count == 0 {
			continue
		}
		off, n := int64(sector*SectorSize), int64(count)*SectorSize
		var err error
		if typ == TypeDiscard {
			err = r.d.punch(off, n)
		} else {
			err = r.d.zero(off, n, unmap)
		}
		if err != nil {
			r.d.ioError("discard/write zeroes", err)
			return StatusIOErr
		}
	}
	return StatusOK
}

// punch deallocates [off, off+n); reads return zeros afterwards.
func (d *Device) punch(off, n int64) error {
	return unix.Fallocate(d.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
}

// zero makes [off, off+n) read as zeros: deallocating when the driver
// allows it and the file system can, else ZERO_RANGE, else plain writes.
func (d *Device) zero(off, n int64, unmap bool) error {
	if unmap && d.punchHole {
		return d.punch(off, n)
	}
	if d.zeroRange.Load() {
		err := unix.Fallocate(d.fd, unix.FALLOC_FL_ZERO_RANGE|unix.FALLOC_FL_KEEP_SIZE, off, n)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENODEV) {
			return err
		}
		d.zeroRange.Store(false) // not on this file system: write zeros from now on
	}
	for n > 0 {
		chunk := min(n, int64(len(zeroBuf)))
		if err := d.img.WriteAt(zeroBuf[:chunk], off); err != nil {
			return err
		}
		off += chunk
		n -= chunk
	}
	return nil
}

var zeroBuf [64 << 10]byte

// span fills r.iov with the bytes [skip, skip+n) of the buffers, as
// slices of them (no copy), and returns it.
func (r *requestCtx) span(bufs [][]byte, skip, n uint64) [][]byte {
	r.iov = r.iov[:0]
	for _, b := range bufs {
		if n == 0 {
			break
		}
		if skip >= uint64(len(b)) {
			skip -= uint64(len(b))
			continue
		}
		b = b[skip:]
		skip = 0
		if uint64(len(b)) > n {
			b = b[:n]
		}
		r.iov = append(r.iov, b)
		n -= uint64(len(b))
	}
	return r.iov
}

// gather copies the bytes of bufs from offset skip into dst and returns
// how many it copied.
func gather(dst []byte, bufs [][]byte, skip uint64) int {
	n := 0
	for _, b := range bufs {
		if n == len(dst) {
			break
		}
		if skip >= uint64(len(b)) {
			skip -= uint64(len(b))
			continue
		}
		n += copy(dst[n:], b[skip:])
		skip = 0
	}
	return n
}

// scatter copies src into the buffers, zero-filling what src does not cover.
func scatter(bufs [][]byte, src []byte) {
	for _, b := range bufs {
		k := copy(b, src)
		clear(b[k:])
		src = src[k:]
	}
}
