package doctor

import (
	"fmt"
	"io/fs"
	"time"

	"github.com/gonest/gonest/hostinfo"
	"github.com/gonest/gonest/kvm"
)

// KVM is the part of /dev/kvm the doctor asks questions of. *kvm.System
// provides all but LoopTime; tests provide fakes that describe a host.
type KVM interface {
	// GetAPIVersion is KVM_GET_API_VERSION.
	GetAPIVersion() (int, error)
	// CheckExtension is KVM_CHECK_EXTENSION on /dev/kvm.
	CheckExtension(c kvm.Cap) (int, error)
	// GetSupportedCPUID is KVM_GET_SUPPORTED_CPUID.
	GetSupportedCPUID() ([]kvm.CPUIDEntry2, error)
	// GetMSRFeatureIndexList is KVM_GET_MSR_FEATURE_INDEX_LIST.
	GetMSRFeatureIndexList() ([]uint32, error)
	// GetMSRs is KVM_GET_MSRS on /dev/kvm (feature MSRs).
	GetMSRs(entries []kvm.MSREntry) (int, error)
	// LoopTime runs the timing guest: n iterations of "dec rcx; jnz" at
	// privilege level cpl (0 or 3), and returns how long they took.
	LoopTime(cpl int, n uint64) (time.Duration, error)
	// Close releases /dev/kvm and the timing guest.
	Close() error
}

// Host is what the doctor examines: the host's files and its KVM.
type Host struct {
	// FS is the host's root directory: the doctor reads sys/module,
	// proc/cpuinfo, sys/hypervisor, sys/class/dmi, dev/kvm's mode and
	// etc/group through it.
	FS fs.FS
	// OpenKVM opens /dev/kvm. Its error should be a *kvm.OpenError, whose
	// message says what to do.
	OpenKVM func() (KVM, error)
	// ProbeBudget bounds the timing probe's guest time; 0 means
	// DefaultProbeBudget.
	ProbeBudget time.Duration
}

// DefaultProbeBudget is how much time the timing probe may spend running
// its loops, both privilege levels together.
const DefaultProbeBudget = 150 * time.Millisecond

// ThisHost is the machine the doctor runs on: its root file system and its
// real /dev/kvm.
func ThisHost() Host {
	return Host{FS: hostinfo.Root(), OpenKVM: OpenKVM}
}

// OpenKVM opens the real /dev/kvm for the doctor.
func OpenKVM() (KVM, error) {
	sys, err := kvm.Open()
	if err != nil {
		return nil, err
	}
	return &systemKVM{System: sys}, nil
}

// WrapSystem adapts an already open /dev/kvm (such as kvmtest.Open's) for
// the doctor. Close closes the timing guest and sys.
func WrapSystem(sys *kvm.System) KVM {
	return &systemKVM{System: sys}
}

// systemKVM is the real KVM: *kvm.System plus the timing guest, created on
// first use.
type systemKVM struct {
	*kvm.System
	loop *loopVM
}

func (s *systemKVM) LoopTime(cpl int, n uint64) (time.Duration, error) {
	if s.loop == nil {
		l, err := newLoopVM(s.System)
		if err != nil {
			return 0, err
		}
		s.loop = l
	}
	return s.loop.run(cpl, n)
}

func (s *systemKVM) Close() error {
	var first error
	if s.loop != nil {
		first = s.loop.close()
		s.loop = nil
	}
	if err := s.System.Close(); err != nil && first == nil {
		first = err
	}
	if first != nil {
		return fmt.Errorf("doctor: %w", first)
	}
	return nil
}
