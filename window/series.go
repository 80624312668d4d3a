package window

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gonest/gonest/machine"
)

// SeriesColumns are the KVM vCPU counters a time series prints, summed
// over the vCPUs: the exits KVM took (exits), the kinds a learner watches
// (port I/O and MMIO that left for userspace, HLT, host interrupts, guest
// page faults KVM handled, emulated instructions) and the nested entries
// (nested_run: each VMRUN or VMLAUNCH/VMRESUME of a nested guest that KVM
// emulated). They are the generic vCPU statistics of
// virt/kvm/kvm_main.c and arch/x86/kvm/x86.c (kvm_vcpu_stats_desc).
// -stats-json keeps every counter that changed, not only these.
var SeriesColumns = []string{"exits", "io_exits", "mmio_exits", "halt_exits", "irq_exits", "pf_taken", "insn_emulation", "nested_run"}

// Sample is one interval of a time series: what changed since the
// sample before it (or since the series started).
type Sample struct {
	// AtMs is when the interval ended, in ms since the VMM started, and
	// DurationMs how long it was.
	AtMs       float64 `json:"at_ms"`
	DurationMs float64 `json:"duration_ms"`
	// Exits is what reached userspace in the interval, by reason.
	Exits map[string]int64 `json:"exits"`
	// KVM holds the change of each in-kernel counter that changed.
	KVM KVMDelta `json:"kvm"`
}

// UserspaceTotal sums the userspace exits of the interval.
func (s *Sample) UserspaceTotal() int64 {
	var n int64
	for _, v := range s.Exits {
		n += v
	}
	return n
}

// Series samples the counters at fixed intervals while a guest runs: a
// time series of the whole run, where a window covers one stretch between
// two markers. It is what gonest run -stats-interval prints.
type Series struct {
	read    func() machine.Counters
	mu      sync.Mutex
	last    machine.Counters
	lastAt  time.Duration
	samples []Sample
}

// NewSeries starts a series at time at (since the VMM started), reading
// the counters now as its base.
func NewSeries(read func() machine.Counters, at time.Duration) *Series {
	return &Series{read: read, last: read(), lastAt: at}
}

// Sample closes the interval that ends at time at and returns it.
func (s *Series) Sample(at time.Duration) Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.read()
	smp := Sample{
		AtMs:       ms(at),
		DurationMs: ms(at - s.lastAt),
		Exits:      diff(s.last.Exits.Exits, now.Exits.Exits),
		KVM:        kvmDiff(s.last.KVM, now.KVM),
	}
	s.last, s.lastAt = now, at
	s.samples = append(s.samples, smp)
	return smp
}

// Samples returns the intervals sampled so far, in order.
func (s *Series) Samples() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.samples...)
}

// WriteSeriesHeader prints the column names of WriteSeriesRow.
func WriteSeriesHeader(w io.Writer) {
	fmt.Fprintf(w, "%10s %9s", "at_s", "userspace")
	for _, c := range SeriesColumns {
		fmt.Fprintf(w, " %*s", colWidth(c), c)
	}
	fmt.Fprintln(w)
}

// WriteSeriesRow prints one sample as a row of counts per interval: the
// exits that reached userspace, then SeriesColumns. When KVM's
// statistics are unavailable (no KVM_CAP_BINARY_STATS_FD) its columns
// print as "-".
func WriteSeriesRow(w io.Writer, s *Sample) {
	fmt.Fprintf(w, "%10.3f %9d", s.AtMs/1000, s.UserspaceTotal())
	for _, c := range SeriesColumns {
		v := "-"
		if s.KVM.Available {
			v = fmt.Sprint(s.KVM.VCPUTotal(c))
		}
		fmt.Fprintf(w, " %*s", colWidth(c), v)
	}
	fmt.Fprintln(w)
}

func colWidth(name string) int { return max(len(name), 8) }
