package machine

import (
	"fmt"
	"sync"

	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/vcpu"
)

// Counters is a reading of the cumulative counters -stats reports: the
// exits that reached userspace and KVM's in-kernel counters.
type Counters struct {
	Exits vcpu.StatsSnapshot
	KVM   KVMStats
}

// Counters reads the counters now. It may be called while the guest runs,
// from any goroutine, a marker callback (Config.OnMarker) included: two
// readings bracket a window of the run (package window).
//
// The first call opens the statistics fds of the VM and of every vCPU,
// and KVM_GET_STATS_FD on a vCPU waits for that vCPU to leave KVM_RUN
// (kvm_vcpu_ioctl takes the vCPU's mutex), so make the first call before
// Run. Later calls only pread the open fds, which never waits.
func (m *Machine) Counters() Counters {
	return Counters{Exits: m.stats.Snapshot(), KVM: m.kvmStats()}
}

// kvmStatsFiles are the binary statistics fds of the VM and its vCPUs,
// opened once and kept until Close.
type kvmStatsFiles struct {
	once  sync.Once
	vm    *kvm.Stats
	vcpus []*kvm.Stats
	err   error
}

// statsFiles opens the statistics fds on first use.
func (m *Machine) statsFiles() *kvmStatsFiles {
	f := &m.kstats
	f.once.Do(func() {
		if n, err := m.vm.CheckExtension(kvm.CapBinaryStatsFD); err != nil || n <= 0 {
			f.err = fmt.Errorf("host KVM has no KVM_CAP_BINARY_STATS_FD (Linux 5.14+)")
			return
		}
		if f.vm, f.err = m.vm.StatsFD(); f.err != nil {
			return
		}
		m.closers = append(m.closers, f.vm.Close)
		for _, v := range m.vcpus {
			s, err := v.KVM().StatsFD()
			if err != nil {
				f.err = err
				return
			}
			f.vcpus = append(f.vcpus, s)
			m.closers = append(m.closers, s.Close)
		}
	})
	return f
}

// kvmStats reads the VM's and every vCPU's statistics.
func (m *Machine) kvmStats() KVMStats {
	f := m.statsFiles()
	if f.err != nil {
		return KVMStats{Reason: "unavailable: " + f.err.Error()}
	}
	st := KVMStats{Available: true}
	var err error
	if st.VM, err = sumStats(f.vm); err != nil {
		return KVMStats{Reason: "unavailable: " + err.Error()}
	}
	for _, s := range f.vcpus {
		vs, err := sumStats(s)
		if err != nil {
			return KVMStats{Reason: "unavailable: " + err.Error()}
		}
		st.VCPUs = append(st.VCPUs, vs)
	}
	return st
}

// sumStats reads a statistics fd, summing each histogram's buckets.
func sumStats(s *kvm.Stats) (map[string]uint64, error) {
	vals, err := s.Read()
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(vals))
	for name, v := range vals {
		var sum uint64
		for _, x := range v {
			sum += x
		}
		out[name] = sum
	}
	return out, nil
}
