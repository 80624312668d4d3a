package kvm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"golang.org/x/sys/unix"
)

// Variable-length ioctl arguments (a fixed header followed by an array) are
// encoded into byte buffers with encoding/binary, which lays out the
// mirrored structs exactly as the C compiler does (blank fields are padding).

var le = binary.LittleEndian

// errShortBuffer is wrapped when the kernel reports more entries than the
// buffer holds, which would be a kernel bug; it keeps decoding panic-free.
var errShortBuffer = errors.New("entry count exceeds the buffer")

// encodeCPUID2 builds a struct kvm_cpuid2 holding entries.
func encodeCPUID2(entries []CPUIDEntry2) []byte {
	buf := make([]byte, 0, int(sizeofCPUID2)+len(entries)*int(sizeofCPUIDEntry2))
	buf, err := binary.Append(buf, le, cpuid2Header{NEnt: uint32(len(entries))})
	if err == nil {
		buf, err = binary.Append(buf, le, entries)
	}
	if err != nil {
		panic(err) // fixed-size types only: unreachable
	}
	return buf
}

// decodeCPUID2 reads back a struct kvm_cpuid2 whose nent the kernel set.
func decodeCPUID2(buf []byte) ([]CPUIDEntry2, error) {
	var h cpuid2Header
	if _, err := binary.Decode(buf, le, &h); err != nil {
		return nil, fmt.Errorf("decode kvm_cpuid2: %w", err)
	}
	body := buf[sizeofCPUID2:]
	if uint64(h.NEnt)*uint64(sizeofCPUIDEntry2) > uint64(len(body)) {
		return nil, fmt.Errorf("kvm_cpuid2 nent %d: %w", h.NEnt, errShortBuffer)
	}
	entries := make([]CPUIDEntry2, h.NEnt)
	if _, err := binary.Decode(body, le, entries); err != nil {
		return nil, fmt.Errorf("decode kvm_cpuid2 entries: %w", err)
	}
	return entries, nil
}

func putMSRListHeader(buf []byte, n uint32) { le.PutUint32(buf, n) }
func msrListCount(buf []byte) uint32        { return le.Uint32(buf) }

// decodeMSRList reads back a struct kvm_msr_list.
func decodeMSRList(buf []byte) ([]uint32, error) {
	n := msrListCount(buf)
	if uint64(n)*4 > uint64(len(buf)-int(sizeofMSRList)) {
		return nil, fmt.Errorf("kvm_msr_list nmsrs %d: %w", n, errShortBuffer)
	}
	list := make([]uint32, n)
	for i := range list {
		list[i] = le.Uint32(buf[int(sizeofMSRList)+4*i:])
	}
	return list, nil
}

// encodeMSRs builds a struct kvm_msrs holding entries.
func encodeMSRs(entries []MSREntry) ([]byte, error) {
	if len(entries) > math.MaxUint32 {
		return nil, unix.E2BIG
	}
	buf := make([]byte, 0, int(sizeofMSRs)+len(entries)*int(sizeofMSREntry))
	buf, err := binary.Append(buf, le, msrsHeader{NMSRs: uint32(len(entries))})
	if err == nil {
		buf, err = binary.Append(buf, le, entries)
	}
	return buf, err
}

// decodeMSRs copies the entries of a struct kvm_msrs back into entries.
func decodeMSRs(buf []byte, entries []MSREntry) error {
	_, err := binary.Decode(buf[sizeofMSRs:], le, entries)
	return err
}

// getMSRs issues KVM_GET_MSRS on fd (a vCPU or /dev/kvm).
func getMSRs(fd int, entries []MSREntry, name string) (int, error) {
	if len(entries) == 0 {
		return 0, nil
	}
	buf, err := encodeMSRs(entries)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	n, err := ioctlBuf(fd, reqGetMSRs, buf)
	if err != nil {
		return 0, fmt.Errorf("%s (%d MSRs, first %#x): %w", name, len(entries), entries[0].Index, err)
	}
	if int(n) > len(entries) {
		return 0, fmt.Errorf("%s: kernel read %d of %d MSRs: %w", name, n, len(entries), errShortBuffer)
	}
	if err := decodeMSRs(buf, entries); err != nil {
		return 0, fmt.Errorf("%s: decode: %w", name, err)
	}
	return int(n), nil
}
