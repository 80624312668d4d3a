package launch

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/gonest/gonest/ktrace"
)

// Stats is the part of gonest run's -stats-json file (machine.Stats) that
// callers check. TestStatsReadsMachineStats keeps the two in step without
// this package importing the whole VMM.
type Stats struct {
	Outcome string `json:"outcome"` // "poweroff (exit 0)", "exit device (exit 1)", ...
	KVM     struct {
		Available bool                `json:"available"`
		Reason    string              `json:"reason"`
		VCPUs     []map[string]uint64 `json:"vcpus"`
	} `json:"kvm"`
	Timeline []struct {
		Event string  `json:"event"`
		Ms    float64 `json:"ms"`
	} `json:"timeline"`
	Memory struct {
		Overhead uint64 `json:"vmm_overhead_bytes"` // RSS minus resident guest RAM
		Error    string `json:"error"`
	} `json:"memory"`
	// Windows are the -window measurements (Spec.Window), in order.
	Windows []Window `json:"windows"`
	// Series is the -stats-interval time series (Spec.StatsInterval), in
	// order.
	Series []Sample `json:"series"`
	// NestedStates are the live readings of the vCPUs' nested state
	// (SIGUSR1, -nested-state-at), in order.
	NestedStates []NestedCapture `json:"nested_states"`
}

// Window is one -window measurement as -stats-json writes it (package
// window's Result): what changed between the opening and the closing
// marker. TestStatsReadsWindows keeps the two in step.
type Window struct {
	Index      int     `json:"index"`
	Spec       string  `json:"spec"`
	DurationMs float64 `json:"duration_ms"`
	// Complete is false for a window the end of the run closed.
	Complete bool `json:"complete"`
	// Exits are the userspace exits in the window, by reason.
	Exits map[string]int64 `json:"exits"`
	// KVM holds the change of KVM's counters over the window.
	KVM struct {
		Available bool               `json:"available"`
		Reason    string             `json:"reason"`
		VM        map[string]int64   `json:"vm"`
		VCPUs     []map[string]int64 `json:"vcpus"`
	} `json:"kvm"`
	// Trace holds this level's KVM exit tracepoints (Spec.TraceExits);
	// TraceUnavailable says why there are none.
	Trace            *ktrace.Counts `json:"trace"`
	TraceUnavailable string         `json:"trace_unavailable"`
}

// VCPUSum adds up a KVM vCPU counter's change over the vCPUs; ok is false
// when KVM's statistics were unavailable.
func (w Window) VCPUSum(name string) (sum int64, ok bool) {
	return w.VCPUDelta(name), w.KVM.Available
}

// UserspaceExits is how many exits reached the VMM in the window.
func (w Window) UserspaceExits() int64 {
	var n int64
	for _, v := range w.Exits {
		n += v
	}
	return n
}

// VCPUDelta sums a KVM vCPU counter's change over the vCPUs.
func (w Window) VCPUDelta(name string) int64 { return sumVCPUs(w.KVM.VCPUs, name) }

// sumVCPUs adds up one counter's change over the vCPUs.
func sumVCPUs(vcpus []map[string]int64, name string) int64 {
	var n int64
	for _, v := range vcpus {
		n += v[name]
	}
	return n
}

// Sample is one interval of the -stats-interval series as -stats-json
// writes it (package window's Sample): what changed since the sample
// before it.
type Sample struct {
	AtMs       float64          `json:"at_ms"` // when the interval ended, since the VMM started
	DurationMs float64          `json:"duration_ms"`
	Exits      map[string]int64 `json:"exits"` // userspace exits, by reason
	KVM        struct {
		Available bool               `json:"available"`
		VCPUs     []map[string]int64 `json:"vcpus"`
	} `json:"kvm"`
}

// VCPUDelta sums a KVM vCPU counter's change over the vCPUs.
func (s Sample) VCPUDelta(name string) int64 { return sumVCPUs(s.KVM.VCPUs, name) }

// NestedCapture is one live reading of every vCPU's nested state.
type NestedCapture struct {
	AtMs    float64 `json:"at_ms"`
	Trigger string  `json:"trigger"` // "SIGUSR1", "-nested-state-at"
	VCPUs   []struct {
		VCPU      int    `json:"vcpu"`
		Text      string `json:"text"` // the decoded header line
		GuestMode bool   `json:"guest_mode"`
		// Raw is KVM_GET_NESTED_STATE's bytes, base64 (kvm.ParseNestedState
		// decodes them); empty when the state was unavailable.
		Raw string `json:"raw_base64"`
	} `json:"vcpus"`
}

// ReadStats reads a -stats-json file.
func ReadStats(path string) (Stats, error) {
	var s Stats
	data, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("gonest statistics: %w", err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("gonest statistics %s: %w", path, err)
	}
	return s, nil
}

// PoweredOff reports whether the run ended through the guest's poweroff.
func (s Stats) PoweredOff() bool { return strings.HasPrefix(s.Outcome, "poweroff ") }

// VCPUSum adds up a KVM vCPU statistic over all vCPUs; ok is false when
// KVM's statistics were unavailable or no vCPU has it.
func (s Stats) VCPUSum(name string) (sum uint64, ok bool) {
	for _, v := range s.KVM.VCPUs {
		if n, has := v[name]; has {
			sum += n
			ok = true
		}
	}
	return sum, ok && s.KVM.Available
}

// Event returns when a timeline event first happened, in ms since the
// VMM started.
func (s Stats) Event(name string) (float64, bool) {
	for _, p := range s.Timeline {
		if p.Event == name {
			return p.Ms, true
		}
	}
	return 0, false
}
