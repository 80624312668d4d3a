package kvm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// Binary statistics (KVM_GET_STATS_FD) are a file with four parts:
//
//	offset 0            struct kvm_stats_header
//	header.id_offset    the id string ("kvm-1234", "kvm-1234/vcpu-0"), name_size bytes
//	header.desc_offset  num_desc descriptors, each struct kvm_stats_desc + name_size bytes of name
//	header.data_offset  the values: descriptor.size uint64s at data_offset+descriptor.offset
//
// The header and descriptors never change; only the data block does, so
// Stats parses the first three once and re-reads the data with pread.

// statsHeader mirrors struct kvm_stats_header.
type statsHeader struct {
	Flags      uint32
	NameSize   uint32
	NumDesc    uint32
	IDOffset   uint32
	DescOffset uint32
	DataOffset uint32
}

// statsDescHeader mirrors struct kvm_stats_desc without its name, which
// follows it (name_size bytes, NUL-padded).
type statsDescHeader struct {
	Flags      uint32
	Exponent   int16
	Size       uint16
	Offset     uint32
	BucketSize uint32
}

// StatsType is the kind of a statistic (flags bits 0-3).
type StatsType uint32

// Statistic kinds.
const (
	StatsTypeCumulative StatsType = 0x0 // KVM_STATS_TYPE_CUMULATIVE: a counter that only grows
	StatsTypeInstant    StatsType = 0x1 // KVM_STATS_TYPE_INSTANT: a current value
	StatsTypePeak       StatsType = 0x2 // KVM_STATS_TYPE_PEAK: the highest value seen
	StatsTypeLinearHist StatsType = 0x3 // KVM_STATS_TYPE_LINEAR_HIST: buckets of BucketSize
	StatsTypeLogHist    StatsType = 0x4 // KVM_STATS_TYPE_LOG_HIST: power-of-two buckets
)

// StatsUnit is the unit of a statistic (flags bits 4-7).
type StatsUnit uint32

// Statistic units.
const (
	StatsUnitNone    StatsUnit = 0x0 << 4 // KVM_STATS_UNIT_NONE: a plain count
	StatsUnitBytes   StatsUnit = 0x1 << 4 // KVM_STATS_UNIT_BYTES
	StatsUnitSeconds StatsUnit = 0x2 << 4 // KVM_STATS_UNIT_SECONDS
	StatsUnitCycles  StatsUnit = 0x3 << 4 // KVM_STATS_UNIT_CYCLES
	StatsUnitBoolean StatsUnit = 0x4 << 4 // KVM_STATS_UNIT_BOOLEAN
)

// StatsBase is the base of a statistic's exponent (flags bits 8-11).
type StatsBase uint32

// Exponent bases: value * Base^Exponent is in Unit.
const (
	StatsBasePow10 StatsBase = 0x0 << 8 // KVM_STATS_BASE_POW10
	StatsBasePow2  StatsBase = 0x1 << 8 // KVM_STATS_BASE_POW2
)

// Flag field masks.
const (
	statsTypeMask = 0xf << 0 // KVM_STATS_TYPE_MASK
	statsUnitMask = 0xf << 4 // KVM_STATS_UNIT_MASK
	statsBaseMask = 0xf << 8 // KVM_STATS_BASE_MASK
)

// Limits that keep a corrupt stats file from making the parser allocate
// without bound.
const (
	maxStatsNameSize = 1024
	maxStatsDescs    = 1 << 14
	maxStatsData     = 8 << 20 // bytes in the data block
)

// StatsDesc describes one statistic.
type StatsDesc struct {
	Name       string
	Flags      uint32
	Exponent   int16
	Size       uint16 // number of uint64 values (buckets for histograms)
	Offset     uint32 // of the values, from the start of the data block
	BucketSize uint32 // linear histograms only
}

// Type returns the statistic's kind.
func (d StatsDesc) Type() StatsType { return StatsType(d.Flags & statsTypeMask) }

// Unit returns the statistic's unit.
func (d StatsDesc) Unit() StatsUnit { return StatsUnit(d.Flags & statsUnitMask) }

// Base returns the base of the statistic's exponent.
func (d StatsDesc) Base() StatsBase { return StatsBase(d.Flags & statsBaseMask) }

// Stats is an open binary statistics file.
type Stats struct {
	r          io.ReaderAt
	closer     io.Closer
	id         string
	descs      []StatsDesc
	dataOffset uint32
	dataSize   uint32 // bytes covering every descriptor's values
}

// ParseStats reads the header and descriptors of a binary statistics file
// from r. It checks every offset and size against limits, so a corrupt file
// gives an error, never a panic or a huge allocation.
func ParseStats(r io.ReaderAt) (*Stats, error) {
	var hb [24]byte
	if _, err := r.ReadAt(hb[:], 0); err != nil {
		return nil, fmt.Errorf("read kvm_stats_header: %w", err)
	}
	var h statsHeader
	if _, err := binary.Decode(hb[:], le, &h); err != nil {
		return nil, fmt.Errorf("decode kvm_stats_header: %w", err)
	}
	if h.NameSize == 0 || h.NameSize > maxStatsNameSize {
		return nil, fmt.Errorf("kvm_stats_header: name_size %d out of range", h.NameSize)
	}
	if h.NumDesc > maxStatsDescs {
		return nil, fmt.Errorf("kvm_stats_header: %d descriptors exceed %d", h.NumDesc, maxStatsDescs)
	}
	id := make([]byte, h.NameSize)
	if _, err := r.ReadAt(id, int64(h.IDOffset)); err != nil {
		return nil, fmt.Errorf("read stats id at %d: %w", h.IDOffset, err)
	}
	descSize := int(sizeofStatsDesc) + int(h.NameSize)
	raw := make([]byte, int(h.NumDesc)*descSize)
	if len(raw) > 0 {
		if _, err := r.ReadAt(raw, int64(h.DescOffset)); err != nil {
			return nil, fmt.Errorf("read %d stats descriptors at %d: %w", h.NumDesc, h.DescOffset, err)
		}
	}
	s := &Stats{r: r, id: cString(id), dataOffset: h.DataOffset}
	var dataEnd uint64
	for i := range int(h.NumDesc) {
		b := raw[i*descSize : (i+1)*descSize]
		var d statsDescHeader
		if _, err := binary.Decode(b, le, &d); err != nil {
			return nil, fmt.Errorf("decode stats descriptor %d: %w", i, err)
		}
		name := cString(b[sizeofStatsDesc:])
		end := uint64(d.Offset) + 8*uint64(d.Size)
		if end > maxStatsData {
			return nil, fmt.Errorf("stats descriptor %q: values at %d+%d exceed the %d-byte limit", name, d.Offset, 8*d.Size, maxStatsData)
		}
		dataEnd = max(dataEnd, end)
		s.descs = append(s.descs, StatsDesc{
			Name:       name,
			Flags:      d.Flags,
			Exponent:   d.Exponent,
			Size:       d.Size,
			Offset:     d.Offset,
			BucketSize: d.BucketSize,
		})
	}
	s.dataSize = uint32(dataEnd)
	return s, nil
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// ID returns the statistics id ("kvm-<pid>" or "kvm-<pid>/vcpu-<n>").
func (s *Stats) ID() string { return s.id }

// Descriptors returns the statistics' descriptors, in file order. The caller
// must not modify the slice.
func (s *Stats) Descriptors() []StatsDesc { return s.descs }

// Read reads the current values of every statistic with one pread of the
// data block and returns them by name.
func (s *Stats) Read() (map[string][]uint64, error) {
	data := make([]byte, s.dataSize)
	if len(data) > 0 {
		if _, err := s.r.ReadAt(data, int64(s.dataOffset)); err != nil {
			return nil, fmt.Errorf("read %d bytes of stats data at %d: %w", len(data), s.dataOffset, err)
		}
	}
	out := make(map[string][]uint64, len(s.descs))
	for _, d := range s.descs {
		v := make([]uint64, d.Size)
		for i := range v {
			v[i] = le.Uint64(data[int(d.Offset)+8*i:])
		}
		out[d.Name] = v
	}
	return out, nil
}

// Close closes the statistics fd.
func (s *Stats) Close() error {
	if s.closer == nil {
		return nil
	}
	err := s.closer.Close()
	s.closer = nil
	return err
}

// statsFD issues KVM_GET_STATS_FD on fd (a VM or vCPU) and parses the file.
func statsFD(fd int, what string) (*Stats, error) {
	r, err := ioctl(fd, reqGetStatsFD, 0)
	if err != nil {
		return nil, fmt.Errorf("KVM_GET_STATS_FD (%s): %w", what, err)
	}
	f := os.NewFile(r, "kvm-stats")
	s, err := ParseStats(f)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("KVM_GET_STATS_FD (%s): %w", what, err)
	}
	s.closer = f
	return s, nil
}
