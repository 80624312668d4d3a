package vcpu

import (
	"sync/atomic"

	"github.com/gonest/gonest/kvm"
)

// Stats counts what reaches userspace: exits by reason, and port/MMIO
// accesses no device claimed. Counting is a few atomic adds per exit, cheap
// enough for every exit. A Stats may be shared by several vCPUs.
//
// The zero value is ready to use; a nil *Stats counts nothing.
type Stats struct {
	exits            [kvm.ExitReasonLimit + 1]atomic.Uint64 // last slot: reasons beyond the limit
	unmappedPIORead  atomic.Uint64
	unmappedPIOWrite atomic.Uint64
	unmappedMMIORd   atomic.Uint64
	unmappedMMIOWr   atomic.Uint64
	lastPIO          atomic.Uint32 // last unclaimed port
	lastMMIO         atomic.Uint64 // last unclaimed MMIO address
}

// countExit counts one userspace exit with reason r.
func (s *Stats) countExit(r kvm.ExitReason) {
	if s == nil {
		return
	}
	s.exits[min(r, kvm.ExitReasonLimit)].Add(1)
}

func (s *Stats) unmappedPIO(port uint16, write bool) {
	if s == nil {
		return
	}
	if write {
		s.unmappedPIOWrite.Add(1)
	} else {
		s.unmappedPIORead.Add(1)
	}
	s.lastPIO.Store(uint32(port))
}

func (s *Stats) unmappedMMIO(addr uint64, write bool) {
	if s == nil {
		return
	}
	if write {
		s.unmappedMMIOWr.Add(1)
	} else {
		s.unmappedMMIORd.Add(1)
	}
	s.lastMMIO.Store(addr)
}

// Exits returns how many exits with reason r reached userspace. Reasons at
// or beyond kvm.ExitReasonLimit share one counter.
func (s *Stats) Exits(r kvm.ExitReason) uint64 {
	if s == nil {
		return 0
	}
	return s.exits[min(r, kvm.ExitReasonLimit)].Load()
}

// StatsSnapshot is a copy of Stats at one moment, for printing (-stats).
type StatsSnapshot struct {
	// Exits maps a reason's C name ("KVM_EXIT_IO") to its count; reasons
	// never seen are absent. Reasons beyond kvm.ExitReasonLimit are summed
	// under "other".
	Exits              map[string]uint64 `json:"by_reason"`
	UnmappedPIOReads   uint64            `json:"unmapped_pio_reads"`
	UnmappedPIOWrites  uint64            `json:"unmapped_pio_writes"`
	UnmappedMMIOReads  uint64            `json:"unmapped_mmio_reads"`
	UnmappedMMIOWrites uint64            `json:"unmapped_mmio_writes"`
	LastUnmappedPort   uint16            `json:"last_unmapped_port"` // valid when there was an unmapped port access
	LastUnmappedMMIO   uint64            `json:"last_unmapped_mmio"` // valid when there was an unmapped MMIO access
}

// Total returns the number of exits of every reason.
func (s StatsSnapshot) Total() uint64 {
	var n uint64
	for _, c := range s.Exits {
		n += c
	}
	return n
}

// Snapshot copies the counters.
func (s *Stats) Snapshot() StatsSnapshot {
	snap := StatsSnapshot{Exits: map[string]uint64{}}
	if s == nil {
		return snap
	}
	for r := range s.exits {
		n := s.exits[r].Load()
		if n == 0 {
			continue
		}
		name := "other"
		if kvm.ExitReason(r) < kvm.ExitReasonLimit {
			name = kvm.ExitReason(r).String()
		}
		snap.Exits[name] = n
	}
	snap.UnmappedPIOReads = s.unmappedPIORead.Load()
	snap.UnmappedPIOWrites = s.unmappedPIOWrite.Load()
	snap.UnmappedMMIOReads = s.unmappedMMIORd.Load()
	snap.UnmappedMMIOWrites = s.unmappedMMIOWr.Load()
	snap.LastUnmappedPort = uint16(s.lastPIO.Load())
	snap.LastUnmappedMMIO = s.lastMMIO.Load()
	return snap
}
