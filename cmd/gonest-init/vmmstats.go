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

// checkNestedRun reads the -stats-json file of a gonest that ran a guest
// which itself ran guests (G1 running G2) and returns KVM's nested_run
// count summed over the vCPUs: the VMRUN/VMLAUNCH instructions the guest
// executed, each one an entry into its own guest. An error says why it is
// missing or zero.
func checkNestedRun(statsJSON string) (uint64, error) {
	s, err := readVMMStats(statsJSON)
	if err != nil {
		return 0, err
	}
	if !s.KVM.Available {
		return 0, fmt.Errorf("%s: KVM statistics unavailable: %s", statsJSON, s.KVM.Reason)
	}
	n, ok := s.vcpuSum("nested_run")
	switch {
	case !ok:
		return 0, fmt.Errorf("%s: no nested_run among the vCPU statistics of this host's KVM", statsJSON)
	case n == 0:
		return 0, fmt.Errorf("%s: nested_run is 0: the guest never entered a guest of its own", statsJSON)
	}
	return n, nil
}
