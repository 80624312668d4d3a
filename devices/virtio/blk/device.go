package blk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/gonest/gonest/devices/virtio"
)

// Device is a virtio block device backed by a file or a block device. It
// implements virtio.Backend.
type Device struct {
	spec    Spec
	file    *os.File
	fd      int
	sectors uint64
	// punchHole: fallocate(PUNCH_HOLE) works, so DISCARD is offered.
	punchHole bool
	// zeroRange: fallocate(ZERO_RANGE) has not failed yet.
	zeroRange atomic.Bool
	serial    [IDBytes]byte
	offered   uint64
	config    [configSize]byte
	log       *slog.Logger
	ioWarned  atomic.Bool

	mu     sync.Mutex
	stop   chan struct{}
	wg     sync.WaitGroup
	closed bool
}

// Open opens the disk image of spec: read-write and locked exclusively,
// or, with ro, read-only (O_RDONLY) with a shared lock, so two VMs cannot
// write one image. log may be nil.
func Open(spec Spec, log *slog.Logger) (*Device, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	flags, lock := os.O_RDWR, unix.LOCK_EX
	if spec.ReadOnly {
		flags, lock = os.O_RDONLY, unix.LOCK_SH
	}
	f, err := os.OpenFile(spec.Path, flags, 0)
	if err != nil {
		hint := "check the path"
		if errors.Is(err, os.ErrPermission) && !spec.ReadOnly {
			hint = "check its permissions, or attach it read-only with ,ro"
		}
		return nil, fmt.Errorf("disk %s: %w; %s", spec.Path, err, hint)
	}
	d := &Device{spec: spec, file: f, fd: int(f.Fd()), log: log.With("disk", spec.Path)}
	if err := d.setup(lock); err != nil {
		f.Close()
		return nil, err
	}
	return d, nil
}

func (d *Device) setup(lock int) error {
	st, err := d.file.Stat()
	if err != nil {
		return fmt.Errorf("disk %s: stat: %w", d.spec.Path, err)
	}
	blockDev := st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0
	if !st.Mode().IsRegular() && !blockDev {
		return fmt.Errorf("disk %s is a %s, not a file or block device; pass a disk image", d.spec.Path, st.Mode().Type())
	}
	if err := unix.Flock(d.fd, lock|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("disk %s is in use by another process; stop it or attach the disk read-only with ,ro", d.spec.Path)
		}
		return fmt.Errorf("disk %s: flock: %w", d.spec.Path, err)
	}
	size, err := d.file.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("disk %s: size: %w", d.spec.Path, err)
	}
	d.sectors = uint64(size) / SectorSize
	if size%SectorSize != 0 {
		d.log.Warn("disk size is not a multiple of 512; the guest does not see the last partial sector", "size", size)
	}
	d.offered = FeatureSegMax | FeatureBlkSize | FeatureFlush
	if d.spec.ReadOnly {
		d.offered |= FeatureRO
	} else {
		// Punching past the end of the file changes no data; it only
		// tells whether the file system can deallocate.
		d.punchHole = unix.Fallocate(d.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, size, SectorSize) == nil
		d.zeroRange.Store(true)
		d.offered |= FeatureWriteZeroes
		if d.punchHole {
			d.offered |= FeatureDiscard
		}
	}
	d.serial = serialFor(d.spec)
	d.buildConfig()
	return nil
}

// serialFor returns the GET_ID string: the spec's serial, or the file
// name reduced to characters that are safe in /dev/disk/by-id names.
func serialFor(s Spec) [IDBytes]byte {
	var id [IDBytes]byte
	name := s.Serial
	if name == "" {
		b := []byte(filepath.Base(s.Path))
		for i, c := range b {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
				b[i] = '_'
			}
		}
		name = string(b)
	}
	copy(id[:], name)
	return id
}

func (d *Device) buildConfig() {
	c := d.config[:]
	binary.LittleEndian.PutUint64(c[cfgCapacity:], d.sectors)
	binary.LittleEndian.PutUint32(c[cfgSegMax:], segMax)
	binary.LittleEndian.PutUint32(c[cfgBlkSize:], SectorSize)
	binary.LittleEndian.PutUint16(c[cfgNumQueues:], 1)
	if d.offered&FeatureDiscard != 0 {
		binary.LittleEndian.PutUint32(c[cfgMaxDiscardSectors:], maxDiscardSectors)
		binary.LittleEndian.PutUint32(c[cfgMaxDiscardSeg:], maxDiscardSeg)
		binary.LittleEndian.PutUint32(c[cfgDiscardSectorAlignment:], discardAlignment)
	}
	if d.offered&FeatureWriteZeroes != 0 {
		binary.LittleEndian.PutUint32(c[cfgMaxWriteZeroesSectors:], maxWriteZeroesSectors)
		binary.LittleEndian.PutUint32(c[cfgMaxWriteZeroesSeg:], maxWriteZeroesSeg)
		if d.punchHole {
			c[cfgWriteZeroesMayUnmap] = 1
		}
	}
}

// Capacity returns the disk size in 512-byte sectors.
func (d *Device) Capacity() uint64 { return d.sectors }

// DeviceType implements virtio.Backend.
func (d *Device) DeviceType() uint16 { return DeviceType }

// Features implements virtio.Backend.
func (d *Device) Features() uint64 { return d.offered }

// QueueSizes implements virtio.Backend: one request queue.
func (d *Device) QueueSizes() []uint16 { return []uint16{queueSize} }

// ReadConfig implements virtio.Backend.
func (d *Device) ReadConfig(off uint64, data []byte) {
	clear(data)
	if off < configSize {
		copy(data, d.config[off:])
	}
}

// WriteConfig implements virtio.Backend. Nothing is writable:
// VIRTIO_BLK_F_CONFIG_WCE is not offered.
func (d *Device) WriteConfig(off uint64, data []byte) {}

// Activate implements virtio.Backend: a worker goroutine per queue.
func (d *Device) Activate(a virtio.Activation) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("disk %s is closed", d.spec.Path)
	}
	if d.stop != nil {
		return fmt.Errorf("disk %s is already active", d.spec.Path)
	}
	d.stop = make(chan struct{})
	for _, q := range a.Queues {
		if q == nil {
			continue
		}
		d.wg.Add(1)
		go d.worker(q, a.Features, d.stop)
	}
	return nil
}

func (d *Device) worker(q *virtio.Queue, features uint64, stop <-chan struct{}) {
	defer d.wg.Done()
	r := &requestCtx{d: d, features: features}
	virtio.Serve(q, stop, r.handle)
}

// Reset implements virtio.Backend: it stops the workers and waits for the
// request each is executing, so no request is half done.
func (d *Device) Reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
}

func (d *Device) stopLocked() {
	if d.stop != nil {
		close(d.stop)
		d.wg.Wait()
		d.stop = nil
	}
}

// Close stops the workers, makes every completed write stable
// (fdatasync) and closes the image. The board calls it on shutdown;
// requests the guest queued but the device had not started are dropped.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.stopLocked()
	d.closed = true
	var errs []error
	if !d.spec.ReadOnly {
		if err := fdatasync(d.fd); err != nil {
			errs = append(errs, fmt.Errorf("disk %s: fdatasync: %w", d.spec.Path, err))
		}
	}
	if err := d.file.Close(); err != nil {
		errs = append(errs, fmt.Errorf("disk %s: close: %w", d.spec.Path, err))
	}
	return errors.Join(errs...)
}

func fdatasync(fd int) error {
	for {
		err := unix.Fdatasync(fd)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// ioError logs the first host I/O error; the guest sees IOERR for each.
func (d *Device) ioError(op string, err error) {
	if d.ioWarned.CompareAndSwap(false, true) {
		d.log.Warn("disk i/o error; the guest sees VIRTIO_BLK_S_IOERR (further errors are not logged)", "op", op, "err", err)
	}
}
