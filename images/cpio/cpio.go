package cpio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"strconv"
	"strings"
)

// Mode bits of the newc mode field (the st_mode values of <sys/stat.h>).
const (
	ModeDir     = 0o040000 // S_IFDIR
	ModeRegular = 0o100000 // S_IFREG
	ModeSymlink = 0o120000 // S_IFLNK
	ModeCharDev = 0o020000 // S_IFCHR
	ModeType    = 0o170000 // S_IFMT, the mask of the type bits
	ModePerm    = 0o007777 // permission, setuid, setgid and sticky bits
)

const (
	magic      = "070701"
	headerSize = 110
	trailer    = "TRAILER!!!"
	maxName    = 4096 // PATH_MAX
)

// Writer writes a newc archive.
type Writer struct {
	w      *bufio.Writer
	ino    uint32
	dirs   map[string]bool
	closed bool
}

// NewWriter starts an archive on w. Call Close to write the trailer.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: bufio.NewWriter(w), dirs: map[string]bool{"": true, ".": true}}
}

// clean turns "/bin/gonest" or "bin//gonest" into "bin/gonest" and rejects
// names that would leave the archive root.
func clean(name string) (string, error) {
	c := strings.TrimPrefix(path.Clean("/"+name), "/")
	if c == "" || strings.Contains(name, "\x00") || len(c) >= maxName {
		return "", fmt.Errorf("bad archive name %q", name)
	}
	return c, nil
}

// Dir adds a directory and any missing parents. perm holds Unix
// permission bits, sticky included (0o1777).
func (w *Writer) Dir(name string, perm uint32) error {
	name, err := clean(name)
	if err != nil {
		return err
	}
	if err := w.parents(name); err != nil {
		return err
	}
	if w.dirs[name] {
		return nil
	}
	w.dirs[name] = true
	return w.entry(name, ModeDir|perm&ModePerm, 0, 0, 0, nil)
}

func (w *Writer) parents(name string) error {
	dir := path.Dir(name)
	if w.dirs[dir] {
		return nil
	}
	return w.Dir(dir, 0o755)
}

// File adds a regular file holding data.
func (w *Writer) File(name string, perm uint32, data []byte) error {
	return w.FileFrom(name, perm, int64(len(data)), bytes.NewReader(data))
}

// FileFrom adds a regular file of size bytes read from r.
func (w *Writer) FileFrom(name string, perm uint32, size int64, r io.Reader) error {
	name, err := clean(name)
	if err != nil {
		return err
	}
	if size < 0 || size > math.MaxUint32 {
		return fmt.Errorf("%s: size %d does not fit a newc archive (4 GiB at most)", name, size)
	}
	if err := w.parents(name); err != nil {
		return err
	}
	return w.entry(name, ModeRegular|perm&ModePerm, uint32(size), 0, 0, r)
}

// Symlink adds a symbolic link name pointing at target.
func (w *Writer) Symlink(name, target string) error {
	name, err := clean(name)
	if err != nil {
		return err
	}
	if target == "" || len(target) >= maxName {
		return fmt.Errorf("%s: bad link target %q", name, target)
	}
	if err := w.parents(name); err != nil {
		return err
	}
	return w.entry(name, ModeSymlink|0o777, uint32(len(target)), 0, 0, strings.NewReader(target))
}

// CharDev adds a character device node, e.g. dev/console (5, 1).
func (w *Writer) CharDev(name string, perm uint32, major, minor uint32) error {
	name, err := clean(name)
	if err != nil {
		return err
	}
	if err := w.parents(name); err != nil {
		return err
	}
	return w.entry(name, ModeCharDev|perm&ModePerm, 0, major, minor, nil)
}

// Close writes the trailer and flushes. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return errors.New("cpio writer already closed")
	}
	w.closed = true
	w.ino = 0
	if err := w.header(trailer, 0, 0, 0, 0, 1); err != nil {
		return err
	}
	return w.w.Flush()
}

func (w *Writer) entry(name string, mode, size, rmajor, rminor uint32, data io.Reader) error {
	if w.closed {
		return errors.New("cpio writer already closed")
	}
	w.ino++
	nlink := uint32(1)
	if mode&ModeType == ModeDir {
		nlink = 2
	}
	if err := w.header(name, mode, size, rmajor, rminor, nlink); err != nil {
		return err
	}
	if size > 0 {
		n, err := io.CopyN(w.w, data, int64(size))
		if err != nil {
			return fmt.Errorf("%s: wrote %d of %d bytes: %w", name, n, size, err)
		}
	}
	return w.pad(int64(size))
}

func (w *Writer) header(name string, mode, size, rmajor, rminor, nlink uint32) error {
	fields := []uint32{
		w.ino, mode, 0, 0, nlink, 0, size, // ino mode uid gid nlink mtime filesize
		0, 0, rmajor, rminor, // devmajor devminor rdevmajor rdevminor
		uint32(len(name) + 1), 0, // namesize check
	}
	var b strings.Builder
	b.WriteString(magic)
	for _, f := range fields {
		fmt.Fprintf(&b, "%08x", f)
	}
	b.WriteString(name)
	b.WriteByte(0)
	if _, err := w.w.WriteString(b.String()); err != nil {
		return fmt.Errorf("write cpio header for %s: %w", name, err)
	}
	return w.pad(int64(b.Len()))
}

func (w *Writer) pad(n int64) error {
	if r := n % 4; r != 0 {
		if _, err := w.w.Write(make([]byte, 4-r)); err != nil {
			return fmt.Errorf("write cpio padding: %w", err)
		}
	}
	return nil
}

// Entry is one member of an archive, as Reader returns it.
type Entry struct {
	Name      string
	Mode      uint32 // type and permission bits, see ModeDir etc.
	Size      int64
	RdevMajor uint32
	RdevMinor uint32
	Data      []byte // file contents or link target; nil for others
	IsTrailer bool
}

// Reader reads newc archives, including several concatenated ones.
type Reader struct {
	r       *bufio.Reader
	off     int64
	maxData int64
}

// NewReader reads archives from r; no entry's data may exceed maxData bytes.
func NewReader(r io.Reader, maxData int64) *Reader {
	return &Reader{r: bufio.NewReader(r), maxData: maxData}
}

// Next returns the next entry, trailers included, or io.EOF at the end.
func (r *Reader) Next() (Entry, error) {
	// Archives may be followed by zero padding before the next one.
	for {
		b, err := r.r.Peek(1)
		if err != nil {
			return Entry{}, io.EOF
		}
		if b[0] != 0 {
			break
		}
		if _, err := r.r.Discard(1); err != nil {
			return Entry{}, err
		}
		r.off++
	}
	var hdr [headerSize]byte
	if _, err := io.ReadFull(r.r, hdr[:]); err != nil {
		return Entry{}, fmt.Errorf("cpio header at %d: %w", r.off, err)
	}
	if string(hdr[:6]) != magic {
		return Entry{}, fmt.Errorf("cpio header at %d: magic %q, want %q (newc)", r.off, hdr[:6], magic)
	}
	var f [13]uint32
	for i := range f {
		v, err := strconv.ParseUint(string(hdr[6+8*i:14+8*i]), 16, 32)
		if err != nil {
			return Entry{}, fmt.Errorf("cpio header at %d field %d: %w", r.off, i, err)
		}
		f[i] = uint32(v)
	}
	nameSize, size := int64(f[11]), int64(f[6])
	if nameSize < 1 || nameSize > maxName {
		return Entry{}, fmt.Errorf("cpio header at %d: name size %d out of range", r.off, nameSize)
	}
	if size > r.maxData {
		return Entry{}, fmt.Errorf("cpio header at %d: size %d over the limit of %d", r.off, size, r.maxData)
	}
	name := make([]byte, nameSize+padLen(headerSize+nameSize))
	if _, err := io.ReadFull(r.r, name); err != nil {
		return Entry{}, fmt.Errorf("cpio name at %d: %w", r.off, err)
	}
	e := Entry{
		Name: strings.TrimRight(string(name[:nameSize]), "\x00"), Mode: f[1], Size: size,
		RdevMajor: f[9], RdevMinor: f[10],
	}
	e.IsTrailer = e.Name == trailer
	data := make([]byte, size+padLen(size))
	if _, err := io.ReadFull(r.r, data); err != nil {
		return Entry{}, fmt.Errorf("cpio data of %s: %w", e.Name, err)
	}
	if size > 0 {
		e.Data = data[:size]
	}
	r.off += headerSize + int64(len(name)) + int64(len(data))
	return e, nil
}

func padLen(n int64) int64 { return (4 - n%4) % 4 }
