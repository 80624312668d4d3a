package virtio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"sync/atomic"

	"github.com/gonest/gonest/guestmem"
)

// ErrBrokenRing is wrapped by every error about a ring the driver
// corrupted: the queue stops and the device asks for a reset.
var ErrBrokenRing = errors.New("driver broke the virtqueue")

// QueueConfig is what the driver set up for one split virtqueue, plus the
// transport's hooks.
type QueueConfig struct {
	Index      int
	Size       uint16
	DescAddr   uint64 // Descriptor Table
	DriverAddr uint64 // Available Ring
	DeviceAddr uint64 // Used Ring
	// Features are the negotiated features; EVENT_IDX and INDIRECT_DESC
	// change how the ring is walked.
	Features uint64
	// Kick receives a value when the guest notifies the queue.
	Kick <-chan struct{}
	// Interrupt sends a used buffer notification to the guest.
	Interrupt func()
	// Fail is called once when the driver breaks the ring; the transport
	// sets DEVICE_NEEDS_RESET.
	Fail func(err error)
}

// Queue is the device side of a split virtqueue. The ring memory was
// checked once, when the queue was built; after that the walker only
// bounds-checks what the driver writes into the rings. One goroutine at a
// time may use a Queue.
type Queue struct {
	cfg      QueueConfig
	mem      *guestmem.Memory
	size     uint16
	eventIdx bool
	indirect bool

	desc       []byte // the descriptor table
	avail      []byte // flags, idx, ring[size], used_event
	used       []byte // flags, idx, ring[size], avail_event
	availWord  []byte // the aligned 32-bit word that holds avail.idx
	availShift uint   // where avail.idx sits in availWord
	usedEvent  []byte
	availEvent []byte

	lastAvail uint16 // next avail ring entry to take
	usedIdx   uint16 // next used ring entry to fill
	signalled uint16 // usedIdx when the guest was last considered for an interrupt
	broken    atomic.Bool
}

// NewQueue checks a queue's configuration against guest memory: a
// power-of-two size, the alignments the specification requires, and all
// three ring areas inside RAM.
func NewQueue(mem *guestmem.Memory, c QueueConfig) (*Queue, error) {
	n := uint64(c.Size)
	if c.Size == 0 || c.Size > MaxQueueSize || bits.OnesCount16(c.Size) != 1 {
		return nil, fmt.Errorf("virtqueue %d: size %d is not a power of two up to %d", c.Index, c.Size, MaxQueueSize)
	}
	if c.DescAddr%descAlign != 0 || c.DriverAddr%availAlign != 0 || c.DeviceAddr%usedAlign != 0 {
		return nil, fmt.Errorf("virtqueue %d: rings at %#x/%#x/%#x are not aligned to %d/%d/%d",
			c.Index, c.DescAddr, c.DriverAddr, c.DeviceAddr, descAlign, availAlign, usedAlign)
	}
	q := &Queue{
		cfg:      c,
		mem:      mem,
		size:     c.Size,
		eventIdx: c.Features&FeatureRingEventIdx != 0,
		indirect: c.Features&FeatureRingIndirectDesc != 0,
	}
	var err error
	if q.desc, err = mem.Slice(c.DescAddr, descSize*n); err != nil {
		return nil, fmt.Errorf("virtqueue %d: descriptor table: %w", c.Index, err)
	}
	if q.avail, err = mem.Slice(c.DriverAddr, ringHeader+2*n+eventFieldSize); err != nil {
		return nil, fmt.Errorf("virtqueue %d: available ring: %w", c.Index, err)
	}
	if q.used, err = mem.Slice(c.DeviceAddr, ringHeader+usedElemSize*n+eventFieldSize); err != nil {
		return nil, fmt.Errorf("virtqueue %d: used ring: %w", c.Index, err)
	}
	if !hostAligned(q.avail, availAlign) || !hostAligned(q.used, usedAlign) {
		return nil, fmt.Errorf("virtqueue %d: rings are misaligned in host memory", c.Index)
	}
	// avail.idx is at offset 2 of a 2-aligned ring: the aligned word
	// holding it is either flags+idx or idx+ring[0], inside the ring both ways.
	if hostAligned(q.avail, 4) {
		q.availWord, q.availShift = q.avail[0:4], 16
	} else {
		q.availWord, q.availShift = q.avail[ringIdxOffset:ringIdxOffset+4], 0
	}
	q.usedEvent = q.avail[ringHeader+2*n:]
	q.availEvent = q.used[ringHeader+usedElemSize*n:]
	return q, nil
}

// Index returns the queue's index in its device.
func (q *Queue) Index() int { return q.cfg.Index }

// Size returns the number of descriptors.
func (q *Queue) Size() uint16 { return q.size }

// Kicked returns the channel that receives guest notifications.
func (q *Queue) Kicked() <-chan struct{} { return q.cfg.Kick }

// Broken reports whether the queue stopped because of a driver error.
func (q *Queue) Broken() bool { return q.broken.Load() }

// Fail stops the queue: the driver gave it a request the device cannot
// even complete. The transport is told once.
func (q *Queue) Fail(err error) error {
	err = fmt.Errorf("virtqueue %d: %w", q.cfg.Index, err)
	if q.broken.CompareAndSwap(false, true) && q.cfg.Fail != nil {
		q.cfg.Fail(err)
	}
	return err
}

func (q *Queue) availIdx() uint16 {
	return uint16(atomicLoad32(q.availWord) >> q.availShift)
}

// availFlags reads avail.flags. When the ring is 4-aligned in host memory
// (Linux's rings and virtiotest's are), flags share the word of avail.idx
// and come with the same atomic load, which also tells the race detector
// how a driver goroutine in a test and the device synchronize.
func (q *Queue) availFlags() uint16 {
	if q.availShift == 16 {
		return uint16(atomicLoad32(q.availWord))
	}
	return load16(q.avail[0:2])
}

// Pop takes the next available descriptor chain and walks it into c. It
// returns false when the ring is empty or the queue is broken, and an error
// (after failing the queue) when the driver corrupted the ring.
func (q *Queue) Pop(c *Chain) (bool, error) {
	if q.broken.Load() {
		return false, nil
	}
	idx := q.availIdx()
	if idx == q.lastAvail {
		return false, nil
	}
	if ahead := idx - q.lastAvail; ahead > q.size {
		return false, q.Fail(fmt.Errorf("%w: avail idx %d is %d entries ahead of the device in a %d-entry queue",
			ErrBrokenRing, idx, ahead, q.size))
	}
	slot := uint64(q.lastAvail & (q.size - 1))
	head := binary.LittleEndian.Uint16(q.avail[ringHeader+2*slot:])
	q.lastAvail++
	if err := q.walk(head, c); err != nil {
		return false, q.Fail(fmt.Errorf("%w: chain at descriptor %d: %w", ErrBrokenRing, head, err))
	}
	return true, nil
}

// Push returns a chain to the driver: the used element first, then the
// index (see ring_unsafe.go for the ordering).
func (q *Queue) Push(head uint16, written uint32) {
	slot := uint64(q.usedIdx & (q.size - 1))
	e := q.used[ringHeader+usedElemSize*slot:]
	binary.LittleEndian.PutUint32(e[0:4], uint32(head))
	binary.LittleEndian.PutUint32(e[4:8], written)
	q.usedIdx++
	// flags stay 0: gonest never sets VIRTQ_USED_F_NO_NOTIFY.
	atomicStore32(q.used[0:4], uint32(q.usedIdx)<<16)
}

// SignalUsed interrupts the guest if it wants to hear about the chains
// pushed since the last call: always, unless it set NO_INTERRUPT or, with
// EVENT_IDX, unless used_event says it is not waiting for them yet.
func (q *Queue) SignalUsed() {
	if q.usedIdx == q.signalled {
		return
	}
	old, cur := q.signalled, q.usedIdx
	q.signalled = cur
	// Push's XCHG already ordered the used.idx store before these loads.
	if q.eventIdx {
		ev := load16(q.usedEvent)
		if cur-ev-1 >= cur-old { // !vring_need_event(ev, cur, old)
			return
		}
	} else if q.availFlags()&AvailFlagNoInterrupt != 0 {
		return
	}
	if q.cfg.Interrupt != nil {
		q.cfg.Interrupt()
	}
}

// Idle re-arms guest notifications and reports whether the available ring
// is empty, so that the worker may sleep until the next kick. With
// EVENT_IDX it asks for a kick as soon as the driver adds anything, then
// looks again: a chain added before the driver could see the request
// would otherwise go unnoticed.
func (q *Queue) Idle() bool {
	if q.broken.Load() {
		return true
	}
	if q.eventIdx {
		store16(q.availEvent, q.lastAvail)
		fence()
	}
	return q.availIdx() == q.lastAvail
}
