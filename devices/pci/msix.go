package pci

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// MSI-X capability layout (PCI 3.0 §6.8.2), offsets from the capability's
// ID byte, and table entry layout.
const (
	msixCapControl = 2  // Message Control, 16 bits
	msixCapTable   = 4  // Table Offset/Table BIR, 32 bits
	msixCapPBA     = 8  // PBA Offset/PBA BIR, 32 bits
	msixCapLen     = 12 // the whole capability

	MSIXControlTableSize = 0x07FF  // PCI_MSIX_FLAGS_QSIZE: table size minus one (read-only)
	MSIXControlMaskAll   = 1 << 14 // PCI_MSIX_FLAGS_MASKALL: function mask
	MSIXControlEnable    = 1 << 15 // PCI_MSIX_FLAGS_ENABLE: MSI-X on, INTx off
	msixBIRMask          = 0x7     // PCI_MSIX_TABLE_BIR: low bits of the offset registers name the BAR

	MSIXEntrySize       = 16     // PCI_MSIX_ENTRY_SIZE
	msixEntryAddrLo     = 0      // PCI_MSIX_ENTRY_LOWER_ADDR
	msixEntryAddrHi     = 4      // PCI_MSIX_ENTRY_UPPER_ADDR
	msixEntryData       = 8      // PCI_MSIX_ENTRY_DATA
	msixEntryCtrl       = 12     // PCI_MSIX_ENTRY_VECTOR_CTRL
	MSIXEntryMasked     = 1 << 0 // PCI_MSIX_ENTRY_CTRL_MASKBIT: vector masked
	msixAddrLoByte0     = 0xFC   // the message address is dword aligned: bits 1:0 read 0
	maxMSIXVectors      = 2048
	msixDefaultCtrlBits = MSIXEntryMasked // entries come out of reset masked
)

// Message is an MSI message: a DWORD write of Data to Addr.
type Message struct {
	Addr uint64
	Data uint32
}

// MSIRouter delivers one function's MSI-X vectors. The board implements it
// with one GSI route plus irqfd per vector (KVM_SET_GSI_ROUTING and
// KVM_IRQFD), so that Fire is a single eventfd write, or with
// KVM_SIGNAL_MSI. SignalMSI adapts the latter.
type MSIRouter interface {
	// Route tells the router what vector sends now. enabled is false
	// while the vector cannot fire (masked, or MSI-X off); the router may
	// then drop its route. Called on a vCPU thread when the guest changes
	// the table or the capability, never on the interrupt hot path.
	Route(vector int, msg Message, enabled bool) error
	// Fire delivers vector's current message. It is called only after a
	// Route with enabled set. This is the hot path.
	Fire(vector int) error
}

// SignalMSI is an MSIRouter that remembers each vector's message and
// sends it with a function call per interrupt (KVM_SIGNAL_MSI, or a test).
type SignalMSI struct {
	Send func(Message) error
	mu   sync.Mutex
	msgs map[int]Message
}

// Route implements MSIRouter.
func (s *SignalMSI) Route(vector int, msg Message, enabled bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.msgs == nil {
		s.msgs = make(map[int]Message)
	}
	if enabled {
		s.msgs[vector] = msg
	} else {
		delete(s.msgs, vector)
	}
	return nil
}

// Fire implements MSIRouter.
func (s *SignalMSI) Fire(vector int) error {
	s.mu.Lock()
	msg, ok := s.msgs[vector]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("msi-x vector %d fired without a route", vector)
	}
	return s.Send(msg)
}

type route struct {
	msg     Message
	enabled bool
}

// MSIX emulates an MSI-X capability, its vector table and its pending bit
// array. The owner maps the table and PBA into one of its BARs and forwards
// accesses there to ReadTable/WriteTable and ReadPBA/WritePBA.
type MSIX struct {
	mu      sync.Mutex
	n       int
	table   []byte
	pending []bool
	routes  []route
	enabled atomic.Bool
	maskAll bool
	router  MSIRouter
	log     *slog.Logger
	warned  bool
}

// NewMSIX adds an MSI-X capability with vectors entries to cfg. The table
// lives at tableOffset and the PBA at pbaOffset inside BAR bar (both 8-byte
// aligned). log may be nil.
func NewMSIX(cfg *Config, vectors, bar int, tableOffset, pbaOffset uint32, router MSIRouter, log *slog.Logger) (*MSIX, error) {
	if vectors < 1 || vectors > maxMSIXVectors {
		return nil, fmt.Errorf("msi-x: %d vectors, want 1-%d", vectors, maxMSIXVectors)
	}
	if bar < 0 || bar >= NumBARs || tableOffset&msixBIRMask != 0 || pbaOffset&msixBIRMask != 0 {
		return nil, fmt.Errorf("msi-x: bar %d, table offset %#x, pba offset %#x: bar out of range or offsets not 8-byte aligned",
			bar, tableOffset, pbaOffset)
	}
	if router == nil {
		return nil, fmt.Errorf("msi-x: nil router")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &MSIX{
		n:       vectors,
		table:   make([]byte, vectors*MSIXEntrySize),
		pending: make([]bool, vectors),
		routes:  make([]route, vectors),
		router:  router,
		log:     log,
	}
	for v := 0; v < vectors; v++ {
		binary.LittleEndian.PutUint32(m.table[v*MSIXEntrySize+msixEntryCtrl:], msixDefaultCtrlBits)
	}
	body := make([]byte, msixCapLen-2)
	binary.LittleEndian.PutUint16(body[msixCapControl-2:], uint16(vectors-1))
	binary.LittleEndian.PutUint32(body[msixCapTable-2:], tableOffset|uint32(bar))
	binary.LittleEndian.PutUint32(body[msixCapPBA-2:], pbaOffset|uint32(bar))
	mask := make([]byte, len(body))
	binary.LittleEndian.PutUint16(mask[msixCapControl-2:], MSIXControlEnable|MSIXControlMaskAll)
	if _, err := cfg.AddCapability(capIDMSIX, body, mask, m); err != nil {
		return nil, err
	}
	return m, nil
}

// Vectors returns the table size.
func (m *MSIX) Vectors() int { return m.n }

// TableSize returns the bytes the table occupies in the BAR.
func (m *MSIX) TableSize() uint64 { return uint64(m.n * MSIXEntrySize) }

// PBASize returns the bytes the pending bit array occupies in the BAR.
func (m *MSIX) PBASize() uint64 { return uint64((m.n + 63) / 64 * 8) }

// Enabled reports whether the guest turned MSI-X on. While it is on the
// function must not use INTx.
func (m *MSIX) Enabled() bool { return m.enabled.Load() }

// ReadCapability implements CapabilityHandler; the stored bytes are current.
func (m *MSIX) ReadCapability(off int, data []byte, cur []byte) {}

// WriteCapability implements CapabilityHandler: Message Control changed.
func (m *MSIX) WriteCapability(off int, data []byte, cur []byte) {
	ctl := binary.LittleEndian.Uint16(cur[msixCapControl:])
	m.mu.Lock()
	defer m.mu.Unlock()
	m.enabled.Store(ctl&MSIXControlEnable != 0)
	m.maskAll = ctl&MSIXControlMaskAll != 0
	m.sync()
}

// ReadTable serves a guest read of the vector table at off.
func (m *MSIX) ReadTable(off uint64, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off >= uint64(len(m.table)) || uint64(len(data)) > uint64(len(m.table))-off {
		fill(data, 0)
		return
	}
	copy(data, m.table[off:])
}

// WriteTable serves a guest write of the vector table at off. Only the
// address, data and mask bit are writable.
func (m *MSIX) WriteTable(off uint64, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off >= uint64(len(m.table)) || uint64(len(data)) > uint64(len(m.table))-off {
		return
	}
	for i, v := range data {
		o := int(off) + i
		var mask byte
		switch o % MSIXEntrySize {
		case msixEntryAddrLo:
			mask = msixAddrLoByte0
		case msixEntryCtrl:
			mask = MSIXEntryMasked
		case msixEntryCtrl + 1, msixEntryCtrl + 2, msixEntryCtrl + 3:
			mask = 0 // reserved
		default:
			mask = 0xFF
		}
		m.table[o] = m.table[o]&^mask | v&mask
	}
	m.sync()
}

// ReadPBA serves a guest read of the pending bit array.
func (m *MSIX) ReadPBA(off uint64, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range data {
		var b byte
		for bit := 0; bit < 8; bit++ {
			v := (off+uint64(i))*8 + uint64(bit)
			if v < uint64(m.n) && m.pending[v] {
				b |= 1 << bit
			}
		}
		data[i] = b
	}
}

// WritePBA drops the write: the PBA is read-only.
func (m *MSIX) WritePBA(off uint64, data []byte) {}

// Trigger raises vector: it fires now, or becomes pending while the vector
// or the function is masked. It is an error to trigger while MSI-X is off
// (the function should use INTx) or with a vector outside the table.
func (m *MSIX) Trigger(vector int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if vector < 0 || vector >= m.n {
		return fmt.Errorf("msi-x vector %d outside the %d-entry table", vector, m.n)
	}
	if !m.enabled.Load() {
		return fmt.Errorf("msi-x vector %d triggered while msi-x is disabled", vector)
	}
	if !m.routes[vector].enabled {
		m.pending[vector] = true
		return nil
	}
	return m.router.Fire(vector)
}

// sync pushes changed vector states to the router and fires vectors that
// became unmasked while pending. m.mu must be held.
func (m *MSIX) sync() {
	for v := 0; v < m.n; v++ {
		e := m.table[v*MSIXEntrySize : (v+1)*MSIXEntrySize]
		r := route{
			msg: Message{
				Addr: uint64(binary.LittleEndian.Uint32(e[msixEntryAddrHi:]))<<32 | uint64(binary.LittleEndian.Uint32(e[msixEntryAddrLo:])),
				Data: binary.LittleEndian.Uint32(e[msixEntryData:]),
			},
			enabled: m.enabled.Load() && !m.maskAll && binary.LittleEndian.Uint32(e[msixEntryCtrl:])&MSIXEntryMasked == 0,
		}
		// The router hears about a vector when it can fire with a new
		// message or stops being able to fire; table writes to a masked
		// vector cost nothing.
		if old := m.routes[v]; r.enabled != old.enabled || (r.enabled && r.msg != old.msg) {
			if err := m.router.Route(v, r.msg, r.enabled); err != nil {
				m.warn("msi-x route", v, err)
				r.enabled = false
			}
		}
		m.routes[v] = r
		if r.enabled && m.pending[v] {
			m.pending[v] = false
			if err := m.router.Fire(v); err != nil {
				m.warn("msi-x fire", v, err)
			}
		}
	}
}

func (m *MSIX) warn(what string, vector int, err error) {
	if m.warned {
		return
	}
	m.warned = true
	m.log.Warn(what, "vector", vector, "err", err)
}
