package disk

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// SectorSize is the unit of every disk interface gonest emulates.
const SectorSize = 512

// Image is an opened disk image: a regular file or a block device, locked
// against a second writer. Devices read and write it at byte offsets they
// have checked against Sectors; Image itself only guarantees that a short
// read or write is an error, never silent.
type Image struct {
	spec    Spec
	file    *os.File
	fd      int
	size    int64
	sectors uint64
	serial  [SerialBytes]byte

	mu     sync.Mutex
	closed bool
}

// Open opens the image of spec: read-write and locked exclusively, or,
// with ro, read-only (O_RDONLY) with a shared lock, so two VMs cannot write
// one image. log, which may be nil, hears about a size that is not a whole
// number of sectors.
func Open(spec Spec, log *slog.Logger) (*Image, error) {
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
		switch {
		case spec.ReadOnly:
		case errors.Is(err, os.ErrPermission):
			hint = "check its permissions, or attach it read-only with ,ro"
		case errors.Is(err, unix.EROFS), errors.Is(err, unix.ETXTBSY):
			hint = "it cannot be written (a read-only file system, or a running program); attach it read-only with ,ro"
		}
		return nil, fmt.Errorf("disk %s: %w; %s", spec.Path, err, hint)
	}
	im := &Image{spec: spec, file: f, fd: int(f.Fd()), serial: serialFor(spec)}
	if err := im.setup(lock, log); err != nil {
		f.Close()
		return nil, err
	}
	return im, nil
}

func (im *Image) setup(lock int, log *slog.Logger) error {
	st, err := im.file.Stat()
	if err != nil {
		return fmt.Errorf("disk %s: stat: %w", im.spec.Path, err)
	}
	blockDev := st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0
	if !st.Mode().IsRegular() && !blockDev {
		return fmt.Errorf("disk %s is a %s, not a file or block device; pass a disk image", im.spec.Path, st.Mode().Type())
	}
	if err := unix.Flock(im.fd, lock|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("disk %s is in use by another process; stop it or attach the disk read-only with ,ro", im.spec.Path)
		}
		return fmt.Errorf("disk %s: flock: %w", im.spec.Path, err)
	}
	// A block device has no size in stat(2); seeking to the end works for
	// both kinds.
	size, err := im.file.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("disk %s: size: %w", im.spec.Path, err)
	}
	im.size = size
	im.sectors = uint64(size) / SectorSize
	if size%SectorSize != 0 {
		log.Warn("disk size is not a multiple of 512; the guest does not see the last partial sector",
			"disk", im.spec.Path, "size", size)
	}
	return nil
}

// serialFor returns the serial number: the spec's, or the file name
// reduced to characters that are safe in /dev/disk/by-id names.
func serialFor(s Spec) [SerialBytes]byte {
	var id [SerialBytes]byte
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

// Spec returns what the image was opened with.
func (im *Image) Spec() Spec { return im.spec }

// Path is the image's file name, for messages.
func (im *Image) Path() string { return im.spec.Path }

// ReadOnly reports whether the image was opened with ro.
func (im *Image) ReadOnly() bool { return im.spec.ReadOnly }

// Size is the image's size in bytes.
func (im *Image) Size() int64 { return im.size }

// Sectors is the number of whole 512-byte sectors: what the guest sees.
func (im *Image) Sectors() uint64 { return im.sectors }

// Serial is the disk's serial number, NUL-padded to SerialBytes.
func (im *Image) Serial() [SerialBytes]byte { return im.serial }

// FD is the image's file descriptor, for vectored I/O and fallocate. It
// stays valid until Close.
func (im *Image) FD() int { return im.fd }

// ReadAt fills p from byte offset off. A read that ends early (the image
// shrank under the guest) is an error.
func (im *Image) ReadAt(p []byte, off int64) error {
	for len(p) > 0 {
		n, err := unix.Pread(im.fd, p, off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("image shrank under the guest")
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}

// WriteAt writes all of p at byte offset off. It refuses on a read-only
// image, which was opened O_RDONLY anyway.
func (im *Image) WriteAt(p []byte, off int64) error {
	if im.spec.ReadOnly {
		return fmt.Errorf("disk %s is read-only", im.spec.Path)
	}
	for len(p) > 0 {
		n, err := unix.Pwrite(im.fd, p, off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("short write")
		}
		p, off = p[n:], off+int64(n)
	}
	return nil
}

// Sync makes every completed write stable (fdatasync). A read-only image
// has nothing to sync.
func (im *Image) Sync() error {
	if im.spec.ReadOnly {
		return nil
	}
	for {
		err := unix.Fdatasync(im.fd)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// Close syncs and closes the image. It is safe to call more than once.
func (im *Image) Close() error {
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.closed {
		return nil
	}
	im.closed = true
	var errs []error
	if err := im.Sync(); err != nil {
		errs = append(errs, fmt.Errorf("disk %s: fdatasync: %w", im.spec.Path, err))
	}
	if err := im.file.Close(); err != nil {
		errs = append(errs, fmt.Errorf("disk %s: close: %w", im.spec.Path, err))
	}
	return errors.Join(errs...)
}
