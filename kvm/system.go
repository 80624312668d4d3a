package kvm

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// DevicePath is where the KVM device lives.
const DevicePath = "/dev/kvm"

// APIVersion is the only KVM API version there has ever been
// (KVM_API_VERSION).
const APIVersion = 12

// System is an open /dev/kvm.
type System struct {
	fd int
}

// OpenError explains why /dev/kvm could not be used, in one sentence that
// says what to do next. It wraps the underlying errno.
type OpenError struct {
	Msg string
	Err error
}

func (e *OpenError) Error() string { return e.Msg }
func (e *OpenError) Unwrap() error { return e.Err }

// Open opens /dev/kvm and checks its API version.
func Open() (*System, error) {
	return OpenPath(DevicePath)
}

// OpenPath opens a KVM device at path (normally /dev/kvm) and checks its
// API version.
func OpenPath(path string) (*System, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, openError(path, err)
	}
	s := &System{fd: fd}
	v, err := s.GetAPIVersion()
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	if v != APIVersion {
		_ = s.Close()
		return nil, &OpenError{
			Msg: fmt.Sprintf("%s speaks KVM API version %d, gonest needs %d: use a Linux kernel with standard KVM", path, v, APIVersion),
			Err: unix.EINVAL,
		}
	}
	return s, nil
}

func openError(path string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENXIO):
		return &OpenError{
			Msg: path + " does not exist: load kvm_intel or kvm_amd, or run inside the lab (make lab)",
			Err: err,
		}
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return &OpenError{
			Msg: path + " is not accessible to this user: add the user to the kvm group, or run as root",
			Err: err,
		}
	}
	return &OpenError{Msg: fmt.Sprintf("open %s: %v", path, err), Err: err}
}

// FD returns the file descriptor.
func (s *System) FD() int { return s.fd }

// Close closes /dev/kvm. VMs created from it stay valid.
func (s *System) Close() error {
	if s.fd < 0 {
		return nil
	}
	err := unix.Close(s.fd)
	s.fd = -1
	if err != nil {
		return fmt.Errorf("close %s: %w", DevicePath, err)
	}
	return nil
}

// GetAPIVersion issues KVM_GET_API_VERSION.
func (s *System) GetAPIVersion() (int, error) {
	r, err := ioctl(s.fd, reqGetAPIVersion, 0)
	if err != nil {
		return 0, fmt.Errorf("KVM_GET_API_VERSION: %w", err)
	}
	return int(r), nil
}

// CheckExtension issues KVM_CHECK_EXTENSION on /dev/kvm. 0 means the
// capability is absent; some capabilities return a number (a size, a limit).
func (s *System) CheckExtension(c Cap) (int, error) {
	return checkExtension(s.fd, c)
}

func checkExtension(fd int, c Cap) (int, error) {
	r, err := ioctl(fd, reqCheckExtension, uintptr(c))
	if err != nil {
		return 0, fmt.Errorf("KVM_CHECK_EXTENSION %v: %w", c, err)
	}
	return int(r), nil
}

// CreateVM issues KVM_CREATE_VM with the default machine type.
func (s *System) CreateVM() (*VM, error) {
	r, err := ioctl(s.fd, reqCreateVM, 0)
	if err != nil {
		return nil, fmt.Errorf("KVM_CREATE_VM: %w", err)
	}
	mmapSize, err := s.GetVCPUMmapSize()
	if err != nil {
		_ = unix.Close(int(r))
		return nil, err
	}
	return &VM{fd: int(r), runSize: mmapSize}, nil
}

// GetVCPUMmapSize issues KVM_GET_VCPU_MMAP_SIZE: the size of the region to
// mmap from a vCPU fd (kvm_run plus, on some hosts, extra pages).
func (s *System) GetVCPUMmapSize() (int, error) {
	r, err := ioctl(s.fd, reqGetVCPUMmapSize, 0)
	if err != nil {
		return 0, fmt.Errorf("KVM_GET_VCPU_MMAP_SIZE: %w", err)
	}
	return int(r), nil
}

// maxCPUIDEntries bounds the buffer KVM_GET_SUPPORTED_CPUID may grow to.
// KVM itself allows 256 (KVM_MAX_CPUID_ENTRIES).
const maxCPUIDEntries = 1024

// GetSupportedCPUID issues KVM_GET_SUPPORTED_CPUID, growing the buffer
// while KVM answers E2BIG.
func (s *System) GetSupportedCPUID() ([]CPUIDEntry2, error) {
	return s.getCPUID(reqGetSupportedCPUID, "KVM_GET_SUPPORTED_CPUID")
}

// GetEmulatedCPUID issues KVM_GET_EMULATED_CPUID: the features KVM emulates
// even where the host lacks them.
func (s *System) GetEmulatedCPUID() ([]CPUIDEntry2, error) {
	return s.getCPUID(reqGetEmulatedCPUID, "KVM_GET_EMULATED_CPUID")
}

func (s *System) getCPUID(req uintptr, name string) ([]CPUIDEntry2, error) {
	for n := 64; ; n *= 2 {
		buf := encodeCPUID2(make([]CPUIDEntry2, n))
		_, err := ioctlBuf(s.fd, req, buf)
		if errors.Is(err, unix.E2BIG) && n < maxCPUIDEntries {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s (%d entries): %w", name, n, err)
		}
		entries, err := decodeCPUID2(buf)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return entries, nil
	}
}

// maxMSRIndices bounds the MSR index lists.
const maxMSRIndices = 4096

// GetMSRIndexList issues KVM_GET_MSR_INDEX_LIST: the MSRs KVM_GET_MSRS and
// KVM_SET_MSRS accept on a vCPU.
func (s *System) GetMSRIndexList() ([]uint32, error) {
	return s.getMSRList(reqGetMSRIndexList, "KVM_GET_MSR_INDEX_LIST")
}

// GetMSRFeatureIndexList issues KVM_GET_MSR_FEATURE_INDEX_LIST: the feature
// MSRs (VMX capabilities, microcode revision, ...) GetMSRs can read here.
func (s *System) GetMSRFeatureIndexList() ([]uint32, error) {
	return s.getMSRList(reqGetMSRFeatureIndexList, "KVM_GET_MSR_FEATURE_INDEX_LIST")
}

func (s *System) getMSRList(req uintptr, name string) ([]uint32, error) {
	// A first call with room for nothing returns E2BIG and the count.
	for n := 0; ; {
		buf := make([]byte, 4+4*n)
		putMSRListHeader(buf, uint32(n))
		_, err := ioctlBuf(s.fd, req, buf)
		if errors.Is(err, unix.E2BIG) {
			want := int(msrListCount(buf))
			if want <= n || want > maxMSRIndices {
				return nil, fmt.Errorf("%s: kernel asks for %d entries: %w", name, want, err)
			}
			n = want
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		list, err := decodeMSRList(buf)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return list, nil
	}
}

// GetMSRs issues KVM_GET_MSRS on /dev/kvm, reading feature MSRs (those in
// GetMSRFeatureIndexList). It fills Data of each entry and returns how many
// were read; reading stops at the first MSR KVM does not know.
func (s *System) GetMSRs(entries []MSREntry) (int, error) {
	return getMSRs(s.fd, entries, "KVM_GET_MSRS (system)")
}
