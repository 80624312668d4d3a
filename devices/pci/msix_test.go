package pci

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type routerCall struct {
	vector  int
	msg     Message
	enabled bool
}

type fakeRouter struct {
	routes []routerCall
	fired  []int
}

func (f *fakeRouter) Route(v int, msg Message, enabled bool) error {
	f.routes = append(f.routes, routerCall{v, msg, enabled})
	return nil
}

func (f *fakeRouter) Fire(v int) error {
	f.fired = append(f.fired, v)
	return nil
}

func newMSIX(t *testing.T, vectors int) (*Config, *MSIX, *fakeRouter, int) {
	t.Helper()
	cfg := NewConfig(Header{VendorID: 1})
	r := &fakeRouter{}
	m, err := NewMSIX(cfg, vectors, 0, 0x4000, 0x5000, r, nil)
	require.NoError(t, err)
	return cfg, m, r, firstCapability
}

func writeEntry(m *MSIX, v int, addr uint64, data uint32, masked bool) {
	e := make([]byte, MSIXEntrySize)
	binary.LittleEndian.PutUint32(e[msixEntryAddrLo:], uint32(addr))
	binary.LittleEndian.PutUint32(e[msixEntryAddrHi:], uint32(addr>>32))
	binary.LittleEndian.PutUint32(e[msixEntryData:], data)
	if masked {
		e[msixEntryCtrl] = MSIXEntryMasked
	}
	// Linux writes the entry as dwords.
	for i := 0; i < MSIXEntrySize; i += 4 {
		m.WriteTable(uint64(v*MSIXEntrySize+i), e[i:i+4])
	}
}

func setControl(cfg *Config, off int, ctl uint16) {
	b := make([]byte, 2)
	binary.LittleEndian.PutUint16(b, ctl)
	cfg.Write(uint64(off+msixCapControl), b)
}

func TestMSIXCapabilityLayout(t *testing.T) {
	cfg, _, _, off := newMSIX(t, 3)
	b := make([]byte, 12)
	cfg.Read(uint64(off), b)
	assert.Equal(t, byte(capIDMSIX), b[0])
	assert.Equal(t, uint16(2), binary.LittleEndian.Uint16(b[2:]), "table size minus one")
	assert.Equal(t, uint32(0x4000), binary.LittleEndian.Uint32(b[4:]), "table offset, bir 0")
	assert.Equal(t, uint32(0x5000), binary.LittleEndian.Uint32(b[8:]), "pba offset, bir 0")

	// Only enable and mask-all are writable.
	setControl(cfg, off, 0xFFFF)
	cfg.Read(uint64(off+msixCapControl), b[:2])
	assert.Equal(t, uint16(MSIXControlEnable|MSIXControlMaskAll|2), binary.LittleEndian.Uint16(b))
}

func TestMSIXTableResetState(t *testing.T) {
	_, m, _, _ := newMSIX(t, 2)
	b := make([]byte, 4)
	m.ReadTable(msixEntryCtrl, b)
	assert.Equal(t, uint32(MSIXEntryMasked), binary.LittleEndian.Uint32(b), "entries start masked")
	m.ReadTable(uint64(m.TableSize()), b)
	assert.Equal(t, uint32(0), binary.LittleEndian.Uint32(b), "past the table")
	assert.Equal(t, uint64(32), m.TableSize())
	assert.Equal(t, uint64(8), m.PBASize())
}

func TestMSIXDelivery(t *testing.T) {
	cfg, m, r, off := newMSIX(t, 2)
	assert.Error(t, m.Trigger(0), "msi-x disabled")
	assert.Error(t, m.Trigger(2), "outside the table")

	writeEntry(m, 1, 0xFEE0_0000, 0x4041, false)
	assert.Empty(t, r.routes, "nothing routes while msi-x is off")
	setControl(cfg, off, MSIXControlEnable)
	require.True(t, m.Enabled())
	assert.Contains(t, r.routes, routerCall{1, Message{0xFEE0_0000, 0x4041}, true})

	require.NoError(t, m.Trigger(1))
	assert.Equal(t, []int{1}, r.fired)

	// Vector 0 is still masked: it goes pending and fires on unmask.
	require.NoError(t, m.Trigger(0))
	assert.Equal(t, []int{1}, r.fired)
	pba := make([]byte, 8)
	m.ReadPBA(0, pba)
	assert.Equal(t, byte(1), pba[0], "pending bit 0")
	writeEntry(m, 0, 0xFEE0_1000, 0x4042, false)
	assert.Equal(t, []int{1, 0}, r.fired)
	m.ReadPBA(0, pba)
	assert.Equal(t, byte(0), pba[0])

	// Function mask holds both vectors.
	setControl(cfg, off, MSIXControlEnable|MSIXControlMaskAll)
	require.NoError(t, m.Trigger(1))
	assert.Equal(t, []int{1, 0}, r.fired)
	last := r.routes[len(r.routes)-1]
	assert.False(t, last.enabled)
	setControl(cfg, off, MSIXControlEnable)
	assert.Equal(t, []int{1, 0, 1}, r.fired, "pending vector fires when the function mask clears")

	// The message address low bits are read-only zero; reserved control bits too.
	m.WriteTable(0, []byte{0x03, 0, 0xE0, 0xFE})
	m.WriteTable(msixEntryCtrl, []byte{0xFE, 0xFF, 0xFF, 0xFF})
	b := make([]byte, 4)
	m.ReadTable(0, b)
	assert.Equal(t, uint32(0xFEE0_0000), binary.LittleEndian.Uint32(b))
	m.ReadTable(msixEntryCtrl, b)
	assert.Equal(t, uint32(0), binary.LittleEndian.Uint32(b))
}

func TestSignalMSI(t *testing.T) {
	var sent []Message
	s := &SignalMSI{Send: func(m Message) error { sent = append(sent, m); return nil }}
	assert.Error(t, s.Fire(0), "no route yet")
	require.NoError(t, s.Route(0, Message{Addr: 0xFEE0_0000, Data: 33}, true))
	require.NoError(t, s.Fire(0))
	assert.Equal(t, []Message{{Addr: 0xFEE0_0000, Data: 33}}, sent)
	require.NoError(t, s.Route(0, Message{}, false))
	assert.Error(t, s.Fire(0))
}

func TestNewMSIXRejects(t *testing.T) {
	cfg := NewConfig(Header{})
	r := &fakeRouter{}
	tests := []struct {
		name                string
		vectors, bar        int
		tableOff, pbaOffset uint32
		router              MSIRouter
	}{
		{"no vectors", 0, 0, 0, 0x1000, r},
		{"too many vectors", maxMSIXVectors + 1, 0, 0, 0x8000, r},
		{"bad bar", 1, 6, 0, 0x1000, r},
		{"unaligned table", 1, 0, 4, 0x1000, r},
		{"no router", 1, 0, 0, 0x1000, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewMSIX(cfg, tt.vectors, tt.bar, tt.tableOff, tt.pbaOffset, tt.router, nil)
			assert.Error(t, err)
		})
	}
}
