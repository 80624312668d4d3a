package launch

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
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
