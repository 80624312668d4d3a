package virtiofs

import (
	"encoding/binary"
	"fmt"
	"log/slog"

	"github.com/gonest/gonest/devices/virtio"
	"github.com/gonest/gonest/devices/virtio/virtiofs/hostfs"
)

// Device is a virtio file system device serving one host directory. It
// implements virtio.Backend.
type Device struct {
	spec   Spec
	fs     *hostfs.FS
	log    *slog.Logger
	config [configSize]byte

	workers virtio.Workers
}

// New opens the shared directory of spec. Its errors name the directory
// and say what to do. log may be nil.
func New(spec Spec, log *slog.Logger) (*Device, error) {
	if err := CheckTag(spec.Tag); err != nil {
		return nil, fmt.Errorf("-fs %s: %w", spec, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("fs_tag", spec.Tag)
	if spec.Cache < 0 || spec.Cache > MaxCache {
		return nil, fmt.Errorf("-fs %s: cache %s is outside 0 to %s", spec, spec.Cache, MaxCache)
	}
	fs, err := hostfs.New(spec.Dir, hostfs.Options{ReadOnly: spec.ReadOnly, Timeout: spec.Cache, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("-fs %s: %w", spec, err)
	}
	d := &Device{spec: spec, fs: fs, log: log}
	copy(d.config[cfgTag:cfgTag+TagMax], spec.Tag)
	binary.LittleEndian.PutUint32(d.config[cfgNumRequestQueues:], numRequestQueues)
	return d, nil
}

// Spec returns what the device shares.
func (d *Device) Spec() Spec { return d.spec }

// DeviceType implements virtio.Backend.
func (d *Device) DeviceType() uint16 { return DeviceType }

// Features implements virtio.Backend: none of the device type's own
// (VIRTIO_FS_F_NOTIFICATION is not offered).
func (d *Device) Features() uint64 { return 0 }

// QueueSizes implements virtio.Backend: hiprio, then the request queues.
func (d *Device) QueueSizes() []uint16 {
	sizes := []uint16{hiprioQueueSize}
	for range numRequestQueues {
		sizes = append(sizes, requestQueueSize)
	}
	return sizes
}

// ReadConfig implements virtio.Backend.
func (d *Device) ReadConfig(off uint64, data []byte) { virtio.ReadConfigBytes(d.config[:], off, data) }

// WriteConfig implements virtio.Backend: the configuration is read-only.
func (d *Device) WriteConfig(off uint64, data []byte) {}

// Activate implements virtio.Backend: a FUSE session starts with a fresh
// protocol state, and each queue gets a worker goroutine.
func (d *Device) Activate(a virtio.Activation) error {
	s := newServer(d.fs, d.spec.ReadOnly, d.log)
	var run []func(stop <-chan struct{})
	for _, q := range a.Queues {
		if q != nil {
			w := &worker{s: s}
			run = append(run, func(stop <-chan struct{}) { virtio.Serve(q, stop, w.handle) })
		}
	}
	if err := d.workers.Start(run...); err != nil {
		return fmt.Errorf("-fs %s: %w", d.spec, err)
	}
	return nil
}

// Reset implements virtio.Backend: the workers stop (each finishes the
// request it is executing) and the guest's nodes and open files are
// forgotten, as for a new mount.
func (d *Device) Reset() {
	d.workers.Stop()
	d.fs.Reset()
}

// Close stops the workers and closes every host descriptor. Every WRITE
// the guest completed is in the host's page cache already; the guest's
// fsync and syncfs reach the host disk when it makes them.
func (d *Device) Close() error {
	if !d.workers.Close() {
		return nil
	}
	if err := d.fs.Close(); err != nil {
		return fmt.Errorf("-fs %s: %w", d.spec, err)
	}
	return nil
}
