package virtio

import (
	"encoding/binary"
	"fmt"

	"github.com/gonest/gonest/guestmem"
)

// Chain is one request as the driver laid it out: the device-readable
// buffers, then the device-writable ones, each a slice of guest memory.
// Walking a chain only finds and checks buffers; what they mean is up to
// the device type.
type Chain struct {
	// Head is the descriptor index that identifies the chain in the used ring.
	Head uint16
	// Readable and Writable alias guest memory. A buffer that lies outside
	// guest memory is a nil entry, and Err says which.
	Readable [][]byte
	Writable [][]byte
	// Err is set when some buffer lies outside guest memory. The chain's
	// structure is sound, so the device can still answer it (with an
	// error status, say).
	Err error
}

func (c *Chain) reset(head uint16) {
	c.Head = head
	clear(c.Readable)
	clear(c.Writable)
	c.Readable = c.Readable[:0]
	c.Writable = c.Writable[:0]
	c.Err = nil
}

// ReadableLen returns the total bytes of the readable buffers.
func (c *Chain) ReadableLen() uint64 { return total(c.Readable) }

// WritableLen returns the total bytes of the writable buffers.
func (c *Chain) WritableLen() uint64 { return total(c.Writable) }

func total(bufs [][]byte) uint64 {
	var n uint64
	for _, b := range bufs {
		n += uint64(len(b))
	}
	return n
}

// desc is one descriptor, read once: the driver may rewrite the table
// while the device walks it, so every check applies to this copy.
type desc struct {
	addr  uint64
	len   uint32
	flags uint16
	next  uint16
}

func readDesc(table []byte, i uint32) desc {
	b := table[uint64(i)*descSize : uint64(i+1)*descSize]
	return desc{
		addr:  binary.LittleEndian.Uint64(b[descAddrOffset:]),
		len:   binary.LittleEndian.Uint32(b[descLenOffset:]),
		flags: binary.LittleEndian.Uint16(b[descFlagsOffset:]),
		next:  binary.LittleEndian.Uint16(b[descNextOffset:]),
	}
}

// walk follows the chain starting at head (virtio 1.2 §2.7.5): every
// index is checked against the table, the chain may not be longer than
// the queue (which also stops loops), readable buffers must come before
// writable ones, and a final indirect descriptor is followed into its
// table.
func (q *Queue) walk(head uint16, c *Chain) error {
	c.reset(head)
	idx := uint32(head)
	for n := 0; ; n++ {
		if n == int(q.size) {
			return fmt.Errorf("longer than the %d-entry queue (a loop?)", q.size)
		}
		if idx >= uint32(q.size) {
			return fmt.Errorf("descriptor index %d outside the %d-entry table", idx, q.size)
		}
		d := readDesc(q.desc, idx)
		if d.flags&DescFlagIndirect != 0 {
			if !q.indirect {
				return fmt.Errorf("descriptor %d is indirect but VIRTIO_RING_F_INDIRECT_DESC was not negotiated", idx)
			}
			if d.flags&DescFlagNext != 0 {
				return fmt.Errorf("descriptor %d is indirect and has NEXT set", idx)
			}
			return q.walkIndirect(d, c)
		}
		if err := c.add(q.mem, d); err != nil {
			return err
		}
		if d.flags&DescFlagNext == 0 {
			return nil
		}
		idx = uint32(d.next)
	}
}

// walkIndirect follows an indirect table: a whole number of descriptors,
// inside guest memory, at most MaxIndirectDescriptors, none of them
// indirect again.
func (q *Queue) walkIndirect(d desc, c *Chain) error {
	if d.len == 0 || d.len%descSize != 0 {
		return fmt.Errorf("indirect table length %d is not a positive multiple of %d", d.len, descSize)
	}
	count := d.len / descSize
	if count > MaxIndirectDescriptors {
		return fmt.Errorf("indirect table of %d descriptors exceeds %d", count, MaxIndirectDescriptors)
	}
	table, err := q.mem.Slice(d.addr, uint64(d.len))
	if err != nil {
		return fmt.Errorf("indirect table: %w", err)
	}
	idx := uint32(0)
	for n := uint32(0); ; n++ {
		if n == count {
			return fmt.Errorf("indirect chain longer than its %d-entry table (a loop?)", count)
		}
		e := readDesc(table, idx)
		if e.flags&DescFlagIndirect != 0 {
			return fmt.Errorf("indirect descriptor %d points at another indirect table", idx)
		}
		if err := c.add(q.mem, e); err != nil {
			return err
		}
		if e.flags&DescFlagNext == 0 {
			return nil
		}
		idx = uint32(e.next)
		if idx >= count {
			return fmt.Errorf("indirect descriptor index %d outside the %d-entry table", idx, count)
		}
	}
}

// add appends d's buffer. A buffer outside guest memory is recorded in
// c.Err rather than failing the walk, so that the request can still be
// answered.
func (c *Chain) add(mem *guestmem.Memory, d desc) error {
	writable := d.flags&DescFlagWrite != 0
	if !writable && len(c.Writable) > 0 {
		return fmt.Errorf("device-readable buffer after a device-writable one")
	}
	b, err := mem.Slice(d.addr, uint64(d.len))
	if err != nil {
		if c.Err == nil {
			c.Err = fmt.Errorf("buffer %#x+%#x: %w", d.addr, d.len, err)
		}
		b = nil
	}
	if writable {
		c.Writable = append(c.Writable, b)
	} else {
		c.Readable = append(c.Readable, b)
	}
	return nil
}
