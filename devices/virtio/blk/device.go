package blk

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/gonest/gonest/devices/disk"
	"github.com/gonest/gonest/devices/virtio"
)

// Device is a virtio block device backed by a disk image (package disk).
// It implements virtio.Backend.
type Device struct {
	img     *disk.Image
	spec    disk.Spec
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

// Open opens the disk image of spec (disk.Open: read-write and locked
// exclusively, or read-only with a shared lock). log may be nil.
func Open(spec disk.Spec, log *slog.Logger) (*Device, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	img, err := disk.Open(spec, log)
	if err != nil {
		return nil, err
	}
	d := &Device{img: img, spec: spec, fd: img.FD(), sectors: img.Sectors(), serial: img.Serial(),
		log: log.With("disk", spec.Path)}
	d.offered = FeatureSegMax | FeatureBlkSize | FeatureFlush
	if d.spec.ReadOnly {
		d.offered |= FeatureRO
	} else {
		// Punching past the end of the file changes no data; it only
		// tells whether the file system can deallocate.
		d.punchHole = unix.Fallocate(d.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, img.Size(), SectorSize) == nil
		d.zeroRange.Store(true)
		d.offered |= FeatureWriteZeroes
		if d.punchHole {
			d.offered |= FeatureDiscard
		}
	}
	d.buildConfig()
	return d, nil
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
	return d.img.Close()
}

// ioError logs the first host I/O error; the guest sees IOERR for each.
func (d *Device) ioError(op string, err error) {
	if d.ioWarned.CompareAndSwap(false, true) {
		d.log.Warn("disk i/o error; the guest sees VIRTIO_BLK_S_IOERR (further errors are not logged)", "op", op, "err", err)
	}
}
