package doctor

import (
	"fmt"
	"io/fs"
	"time"

	"github.com/gonest/gonest/hostinfo"
	"github.com/gonest/gonest/kvm"
)

// KVM is the part of /dev/kvm the doctor asks questions of. *kvm.System
// provides all but LoopFor; tests provide fakes that describe a host.
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
	// LoopFor runs the timing guest's "dec rcx; jnz" loop at privilege
	// level cpl (0 or 3) for about window, and says how far it got.
	LoopFor(cpl int, window time.Duration) (LoopRun, error)
	// Close releases /dev/kvm and the timing guest.
	Close() error
}

// LoopRun is one run of the timing guest.
type LoopRun struct {
	// Iterations is how many rounds of the loop the guest did.
	Iterations uint64
	// CPU is the vCPU thread's CPU time over the run: the guest's time,
	// without the time the thread waited for a CPU on a busy host. Zero
	// when unknown.
	CPU time.Duration
	// Wall is the run's wall-clock time.
	Wall time.Duration
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
	// ProbeBudget is how long the timing probe runs its guest, both
	// privilege levels together; 0 means DefaultProbeBudget.
	ProbeBudget time.Duration
}

// DefaultProbeBudget is how long the timing probe runs its guest: half at
// CPL 0, half at CPL 3, each after a short warm-up.
const DefaultProbeBudget = 50 * time.Millisecond

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

func (s *systemKVM) LoopFor(cpl int, window time.Duration) (LoopRun, error) {
	if s.loop == nil {
		l, err := newLoopVM(s.System)
		if err != nil {
			return LoopRun{}, err
		}
		s.loop = l
	}
	return s.loop.run(cpl, window)
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
