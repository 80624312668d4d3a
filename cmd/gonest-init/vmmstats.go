package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// vmmStats is the part of gonest run's -stats-json file (machine.Stats)
// that scenarios check. TestVMMStatsReadsMachineStats keeps the two in
// step.
type vmmStats struct {
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

// readVMMStats reads a -stats-json file.
func readVMMStats(path string) (vmmStats, error) {
	var s vmmStats
	data, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("gonest statistics: %w", err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("gonest statistics %s: %w", path, err)
	}
	return s, nil
}

// poweredOff reports whether the run ended through the guest's poweroff.
func (s vmmStats) poweredOff() bool { return strings.HasPrefix(s.Outcome, "poweroff ") }

// vcpuSum adds up a KVM vCPU statistic over all vCPUs; ok is false when
// KVM's statistics were unavailable or no vCPU has it.
func (s vmmStats) vcpuSum(name string) (sum uint64, ok bool) {
	for _, v := range s.KVM.VCPUs {
		if n, has := v[name]; has {
			sum += n
			ok = true
		}
	}
	return sum, ok && s.KVM.Available
}

// event returns when a timeline event happened, in ms since VMM start.
func (s vmmStats) event(name string) (float64, bool) {
	for _, p := range s.Timeline {
		if p.Event == name {
			return p.Ms, true
		}
	}
	return 0, false
}
