package virtiotest

import (
	"encoding/binary"
	"fmt"

	"github.com/gonest/gonest/guestmem"
)

// Flags of a descriptor, as in the virtio specification.
const (
	FlagNext     = 1 // VIRTQ_DESC_F_NEXT
	FlagWrite    = 2 // VIRTQ_DESC_F_WRITE
	FlagIndirect = 4 // VIRTQ_DESC_F_INDIRECT
)

// Desc is a raw descriptor.
type Desc struct {
	Addr  uint64
	Len   uint32
	Flags uint16
	Next  uint16
}

// Buf is one buffer of a well-formed chain.
type Buf struct {
	Addr  uint64
	Len   uint32
	Write bool // device-writable
}

// Used is one used ring element.
type Used struct {
	ID  uint32
	Len uint32
}

// Driver drives one queue in Mem.
type Driver struct {
	Mem               *guestmem.Memory
	Size              uint16
	Desc, Avail, Used uint64 // ring addresses, to program into the device

	next, end uint64 // buffer allocator
	freeDesc  uint16
	availIdx  uint16
	usedSeen  uint16
}

// New returns a driver whose rings start at base, followed by a buffer
// area up to the end of the region that holds base.
func New(mem *guestmem.Memory, base uint64, size uint16) *Driver {
	n := uint64(size)
	d := &Driver{Mem: mem, Size: size, Desc: base}
	d.Avail = base + 16*n
	d.Used = align(d.Avail+6+2*n, 4096)
	d.next = align(d.Used+6+8*n, 4096)
	for _, r := range mem.Regions() {
		if base >= r.GPA && base < r.End() {
			d.end = r.End()
		}
	}
	return d
}

func align(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }

// Alloc returns n bytes of buffer space, 16-byte aligned and zeroed.
func (d *Driver) Alloc(n uint64) uint64 {
	addr := align(d.next, 16)
	if addr+n > d.end || addr+n < addr {
		panic(fmt.Sprintf("virtiotest: out of buffer space allocating %d bytes", n))
	}
	d.next = addr + n
	b := d.must(d.Mem.Slice(addr, n))
	clear(b)
	return addr
}

// Put allocates a buffer holding data.
func (d *Driver) Put(data []byte) uint64 {
	addr := d.Alloc(uint64(len(data)))
	copy(d.must(d.Mem.Slice(addr, uint64(len(data)))), data)
	return addr
}

// Bytes returns n bytes of guest memory at addr.
func (d *Driver) Bytes(addr, n uint64) []byte {
	return d.must(d.Mem.Slice(addr, n))
}

func (d *Driver) must(b []byte, err error) []byte {
	if err != nil {
		panic("virtiotest: " + err.Error())
	}
	return b
}

// SetDesc writes descriptor i of the queue's table.
func (d *Driver) SetDesc(i uint16, x Desc) {
	putDesc(d.Bytes(d.Desc+16*uint64(i), 16), x)
}

// WriteTable writes descs at addr, as an indirect table.
func (d *Driver) WriteTable(addr uint64, descs []Desc) {
	for i, x := range descs {
		putDesc(d.Bytes(addr+16*uint64(i), 16), x)
	}
}

func putDesc(b []byte, x Desc) {
	binary.LittleEndian.PutUint64(b[0:], x.Addr)
	binary.LittleEndian.PutUint32(b[8:], x.Len)
	binary.LittleEndian.PutUint16(b[12:], x.Flags)
	binary.LittleEndian.PutUint16(b[14:], x.Next)
}

// Publish makes head available: the ring entry, then the index.
func (d *Driver) Publish(head uint16) {
	slot := uint64(d.availIdx % d.Size)
	binary.LittleEndian.PutUint16(d.Bytes(d.Avail+4+2*slot, 2), head)
	d.availIdx++
	d.SetAvailIdx(d.availIdx)
}

// SetAvailIdx stores avail.idx (and flags, kept) in one atomic write.
func (d *Driver) SetAvailIdx(idx uint16) {
	w := d.Bytes(d.Avail, 4)
	flags := uint32(binary.LittleEndian.Uint16(w))
	store32(w, flags|uint32(idx)<<16)
}

// SetAvailFlags stores avail.flags.
func (d *Driver) SetAvailFlags(flags uint16) {
	w := d.Bytes(d.Avail, 4)
	store32(w, uint32(flags)|uint32(d.availIdx)<<16)
}

// AddChain writes bufs as a chain of consecutive descriptors (wrapping
// around the table), publishes it and returns its head.
func (d *Driver) AddChain(bufs ...Buf) uint16 {
	head := d.freeDesc
	for i, b := range bufs {
		idx := (head + uint16(i)) % d.Size
		x := Desc{Addr: b.Addr, Len: b.Len}
		if b.Write {
			x.Flags |= FlagWrite
		}
		if i < len(bufs)-1 {
			x.Flags |= FlagNext
			x.Next = (idx + 1) % d.Size
		}
		d.SetDesc(idx, x)
	}
	d.freeDesc = (head + uint16(len(bufs))) % d.Size
	d.Publish(head)
	return head
}

// UsedIdx returns used.idx.
func (d *Driver) UsedIdx() uint16 {
	return uint16(load32(d.Bytes(d.Used, 4)) >> 16)
}

// TakeUsed returns the used elements added since the previous call.
func (d *Driver) TakeUsed() []Used {
	var out []Used
	for idx := d.UsedIdx(); d.usedSeen != idx; d.usedSeen++ {
		e := d.Bytes(d.Used+4+8*uint64(d.usedSeen%d.Size), 8)
		out = append(out, Used{ID: binary.LittleEndian.Uint32(e), Len: binary.LittleEndian.Uint32(e[4:])})
	}
	return out
}

// SetUsedEvent writes used_event (EVENT_IDX).
func (d *Driver) SetUsedEvent(v uint16) {
	binary.LittleEndian.PutUint16(d.Bytes(d.Avail+4+2*uint64(d.Size), 2), v)
}

// AvailEvent reads avail_event (EVENT_IDX).
func (d *Driver) AvailEvent() uint16 {
	return binary.LittleEndian.Uint16(d.Bytes(d.Used+4+8*uint64(d.Size), 2))
}
