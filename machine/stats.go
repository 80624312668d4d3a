package machine

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/gonest/gonest/vcpu"
)

// Stats is what gonest run -stats reports: the exits that reached
// userspace, the devices they went to, KVM's own counters, the boot
// timeline and the VMM's memory overhead.
type Stats struct {
	Outcome string `json:"outcome"`
	// Exits counts userspace exits by reason, plus accesses to unmapped
	// ports and addresses.
	Exits vcpu.StatsSnapshot `json:"exits"`
	// Devices lists every device with the accesses it served.
	Devices []DeviceStats `json:"devices"`
	// KVM holds the in-kernel counters (KVM_GET_STATS_FD).
	KVM KVMStats `json:"kvm"`
	// Timeline is the boot timeline.
	Timeline []TimelinePoint `json:"timeline"`
	// Memory is the VMM's overhead: RSS minus resident guest RAM.
	Memory MemoryStats `json:"memory"`
}

// DeviceStats is one device on a bus.
type DeviceStats struct {
	Bus      string `json:"bus"`
	Name     string `json:"name"`
	Base     uint64 `json:"base"`
	Size     uint64 `json:"size"`
	Accesses uint64 `json:"accesses"`
}

// KVMStats are KVM's binary statistics for the VM and each vCPU.
type KVMStats struct {
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"` // why not, when unavailable
	// VM and VCPUs map a statistic's name to its value (the sum of the
	// buckets, for histograms).
	VM    map[string]uint64   `json:"vm,omitempty"`
	VCPUs []map[string]uint64 `json:"vcpus,omitempty"`
}

// TimelinePoint is one boot milestone, in milliseconds since VMM start.
type TimelinePoint struct {
	Event string  `json:"event"`
	Ms    float64 `json:"ms"`
}

// MemoryStats splits the process's resident memory into guest and VMM.
type MemoryStats struct {
	RSS           uint64 `json:"rss_bytes"`
	GuestResident uint64 `json:"guest_resident_bytes"`
	Overhead      uint64 `json:"vmm_overhead_bytes"`
	// Where the overhead lives: RSS by kind (/proc/self/status), and the
	// Go runtime's own accounting (runtime.MemStats).
	// GuestSmaps is guest RAM's resident size as /proc/self/smaps counts
	// it (the Rss of the mappings that hold guest RAM), a cross-check of
	// GuestResident (mincore).
	GuestSmaps uint64 `json:"guest_smaps_rss_bytes"`
	RSSAnon    uint64 `json:"rss_anon_bytes"`
	RSSFile    uint64 `json:"rss_file_bytes"`
	RSSShmem   uint64 `json:"rss_shmem_bytes"`
	GoHeap     uint64 `json:"go_heap_inuse_bytes"`
	GoStacks   uint64 `json:"go_stack_inuse_bytes"`
	GoSys      uint64 `json:"go_sys_bytes"`
	Threads    int    `json:"threads"`
	Error      string `json:"error,omitempty"`
}

// Stats collects the statistics. Call it after Run and before Close.
func (m *Machine) Stats(out Outcome) Stats {
	s := Stats{Outcome: out.String(), Exits: m.stats.Snapshot()}
	for _, mp := range m.pio.Mappings() {
		s.Devices = append(s.Devices, DeviceStats{Bus: "pio", Name: mp.Name, Base: mp.Base, Size: mp.Size, Accesses: mp.Accesses})
	}
	for _, mp := range m.mmio.Mappings() {
		s.Devices = append(s.Devices, DeviceStats{Bus: "mmio", Name: mp.Name, Base: mp.Base, Size: mp.Size, Accesses: mp.Accesses})
	}
	s.KVM = m.kvmStats()
	for _, p := range m.timeline.Points() {
		s.Timeline = append(s.Timeline, TimelinePoint{Event: string(p.Event), Ms: float64(p.At.Microseconds()) / 1000})
	}
	s.Memory = m.memoryStats()
	return s
}

// memoryStats measures RSS (from /proc/self/status) and resident guest RAM
// (mincore), whose difference is what gonest itself costs.
func (m *Machine) memoryStats() MemoryStats {
	var ms MemoryStats
	status, err := selfStatus()
	if err != nil {
		ms.Error = err.Error()
		return ms
	}
	rss, ok := status["VmRSS"]
	if !ok {
		ms.Error = "/proc/self/status has no VmRSS"
		return ms
	}
	ms.RSSAnon, ms.RSSFile, ms.RSSShmem = status["RssAnon"], status["RssFile"], status["RssShmem"]
	ms.Threads = int(status["Threads"])
	var rt runtime.MemStats
	runtime.ReadMemStats(&rt)
	ms.GoHeap, ms.GoStacks, ms.GoSys = rt.HeapInuse, rt.StackInuse, rt.Sys
	ms.GuestSmaps, _ = m.guestSmapsRSS()
	guest, err := m.mem.Resident()
	if err != nil {
		ms.Error = err.Error()
		return ms
	}
	ms.RSS, ms.GuestResident = rss, guest
	if rss > guest {
		ms.Overhead = rss - guest
	}
	return ms
}

// selfStatus reads /proc/self/status: sizes ("VmRSS", "RssAnon", ...) in
// bytes, and counts ("Threads") as they are.
func selfStatus() (map[string]uint64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, fmt.Errorf("read /proc/self/status: %w", err)
	}
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		n, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			continue
		}
		if len(f) == 3 && f[2] == "kB" {
			n <<= 10
		}
		out[strings.TrimSuffix(f[0], ":")] = n
	}
	return out, nil
}

// SortedKeys returns a map's keys in order, for stable output.
func SortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// guestSmapsRSS sums the Rss of the /proc/self/smaps mappings that overlap
// guest RAM.
func (m *Machine) guestSmapsRSS() (uint64, error) {
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	regions := m.mem.Regions()
	var total uint64
	overlaps := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(f[0], "-"); ok && !strings.HasSuffix(f[0], ":") {
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			overlaps = false
			if err1 == nil && err2 == nil {
				for _, r := range regions {
					a := uint64(r.HostAddr())
					if start < a+uint64(len(r.Data)) && a < end {
						overlaps = true
					}
				}
			}
			continue
		}
		if overlaps && f[0] == "Rss:" && len(f) >= 2 {
			if kb, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				total += kb << 10
			}
		}
	}
	return total, nil
}
