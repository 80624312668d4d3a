package acpi

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPkgLength(t *testing.T) {
	tests := []struct {
		contents int
		want     []byte
	}{
		{0, []byte{0x01}},                   // one byte: length counts itself
		{62, []byte{0x3F}},                  // largest one-byte form
		{63, []byte{0x41, 0x04}},            // 65 = 0x41: two bytes, low nibble 1, then 0x04
		{119, []byte{0x49, 0x07}},           // iasl's encoding of a 121-byte buffer package
		{0xFFD, []byte{0x4F, 0xFF}},         // largest two-byte form, 0xFFF
		{0xFFE, []byte{0x81, 0x00, 0x01}},   // 0x1001: three bytes
		{0xFFFFC, []byte{0x8F, 0xFF, 0xFF}}, // largest three-byte form, 0xFFFFF
		{0xFFFFD, []byte{0xC1, 0x00, 0x00, 0x01}},
		{maxPkgLength - 4, []byte{0xCF, 0xFF, 0xFF, 0xFF}}, // largest four-byte form
	}
	for _, tt := range tests {
		got, err := pkgLength(tt.contents)
		require.NoError(t, err, "contents %d", tt.contents)
		assert.Equal(t, tt.want, got, "contents %d", tt.contents)
	}
	for _, bad := range []int{-1, maxPkgLength - 3, maxPkgLength} {
		_, err := pkgLength(bad)
		assert.Error(t, err, "contents %d", bad)
	}
}

func TestNameString(t *testing.T) {
	tests := []struct {
		path string
		want []byte
	}{
		{"_HID", []byte("_HID")},
		{"_S5", []byte("_S5_")},
		{`\_SB`, []byte("\\_SB_")},
		{"_SB.PCI0", append([]byte{0x2E}, "_SB_PCI0"...)},
		{`\_SB.PCI0.ISA`, append([]byte{0x5C, 0x2F, 3}, "_SB_PCI0ISA_"...)},
		{"^^PCI0", []byte("^^PCI0")},
		{`\`, []byte{0x5C, 0x00}},
	}
	for _, tt := range tests {
		var e amlEncoder
		got := e.nameString(tt.path)
		require.NoError(t, e.err, tt.path)
		assert.Equal(t, tt.want, got, tt.path)
	}
	for _, bad := range []string{"1ABC", "ABCDE", "pci0", "A.", "A-B"} {
		var e amlEncoder
		assert.Nil(t, e.nameString(bad), bad)
		assert.Error(t, e.err, bad)
	}
}

func TestInteger(t *testing.T) {
	tests := []struct {
		v    uint64
		want []byte
	}{
		{0, []byte{0x00}},
		{1, []byte{0x01}},
		{2, []byte{0x0A, 0x02}},
		{0xFF, []byte{0x0A, 0xFF}},
		{0x100, []byte{0x0B, 0x00, 0x01}},
		{0x0001_FFFF, []byte{0x0C, 0xFF, 0xFF, 0x01, 0x00}},
		{0x1234_5678_ABCD, []byte{0x0E, 0xCD, 0xAB, 0x78, 0x56, 0x34, 0x12, 0x00, 0x00}}, // iasl's bytes
		{^uint64(0), []byte{0xFF}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, integer(tt.v), "%#x", tt.v)
	}
}

func TestEISAID(t *testing.T) {
	// Values iasl gives EisaId().
	tests := map[string]uint32{
		"PNP0A03": 0x030A_D041,
		"PNP0501": 0x0105_D041,
		"PNP0B00": 0x000B_D041,
		"PNP0303": 0x0303_D041,
	}
	for id, want := range tests {
		got, err := EISAID(id)
		require.NoError(t, err, id)
		assert.Equal(t, want, got, id)
	}
	for _, bad := range []string{"pnp0a03", "PNP0A0", "PNP0G03", "PN10A03", "PNP0a03"} {
		_, err := EISAID(bad)
		assert.Error(t, err, bad)
	}
	var e amlEncoder
	// Name (EIS1, EisaId ("PNP0A03")) as iasl compiles it: always a DWord.
	assert.Equal(t, []byte{0x08, 'E', 'I', 'S', '1', 0x0C, 0x41, 0xD0, 0x0A, 0x03}, e.name("EIS1", e.eisaID("PNP0A03")))
	assert.Equal(t, []byte{0x0C, 0x41, 0xD0, 0x0B, 0x00}, e.eisaID("PNP0B00"))
	require.NoError(t, e.err)
}

func TestPackageDeviceScope(t *testing.T) {
	var e amlEncoder
	// Package () { 0x0001FFFF, 0x02, Zero, 0x0A }, as iasl compiles it.
	assert.Equal(t, []byte{0x12, 0x0C, 0x04, 0x0C, 0xFF, 0xFF, 0x01, 0x00, 0x0A, 0x02, 0x00, 0x0A, 0x0A},
		e.pack(integer(0x1FFFF), integer(2), integer(0), integer(10)))
	// Device (PCI0) { Name (_HID, EisaId ("PNP0A03")) }
	assert.Equal(t, []byte{0x5B, 0x82, 0x0F, 'P', 'C', 'I', '0', 0x08, '_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0, 0x0A, 0x03},
		e.device("PCI0", e.name("_HID", e.eisaID("PNP0A03"))))
	// Scope (\_SB) {}
	assert.Equal(t, []byte{0x10, 0x06, 0x5C, '_', 'S', 'B', '_'}, e.scope(`\_SB`))
	// Name (_HID, "ACPI0007")
	assert.Equal(t, append([]byte{0x08, '_', 'H', 'I', 'D', 0x0D}, "ACPI0007\x00"...), e.name("_HID", e.str("ACPI0007")))
	require.NoError(t, e.err)

	// The first error sticks and names the culprit.
	e.device("bad!", e.name("_UID", integer(0)))
	e.device("GOOD")
	require.Error(t, e.err)
	assert.Contains(t, e.err.Error(), `"bad!"`)
	var e2 amlEncoder
	e2.str("caf\xe9")
	assert.Error(t, e2.err)
	var e3 amlEncoder
	e3.pack(make([][]byte, 256)...)
	assert.Error(t, e3.err)
}

func TestResourceTemplate(t *testing.T) {
	// iasl -oa output for:
	//   WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, 0, 0xFF, 0, 0x100)
	//   IO (Decode16, 0x0CF8, 0x0CF8, 0x01, 0x08)
	//   WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, 0x1000, 0xFFFF, 0, 0xF000)
	//   DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,
	//                0, 0xC0000000, 0xFBFFFFFF, 0, 0x3C000000)
	//   QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,
	//                0, 0x1000000000, 0x13FFFFFFFF, 0, 0x400000000)
	//   IRQNoFlags () {4}
	iasl := []byte{
		0x11, 0x49, 0x07, 0x0A, 0x75,
		0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x01,
		0x47, 0x01, 0xF8, 0x0C, 0xF8, 0x0C, 0x01, 0x08,
		0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03, 0x00, 0x00, 0x00, 0x10, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0xF0,
		0x87, 0x17, 0x00, 0x00, 0x0C, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0, 0xFF, 0xFF, 0xFF, 0xFB,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3C,
		0x8A, 0x2B, 0x00, 0x00, 0x0C, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x13, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00,
		0x22, 0x10, 0x00,
		0x79, 0x00, // iasl leaves the checksum 0
	}
	var e amlEncoder
	got := e.resourceTemplate(
		wordBusNumber(0, 0xFF),
		ioPort(0xCF8, 0xCF8, 1, 8),
		wordIO(0x1000, 0xF000),
		dwordMemory(0xC000_0000, 0x3C00_0000),
		qwordMemory(0x10_0000_0000, 0x4_0000_0000),
		irqNoFlags(4),
	)
	require.NoError(t, e.err)
	require.Len(t, got, len(iasl))
	assert.Equal(t, iasl[:len(iasl)-1], got[:len(got)-1])
	// gonest fills in the end tag checksum: the template's bytes sum to 0.
	var sum byte
	for _, b := range got[5:] {
		sum += b
	}
	assert.Zero(t, sum)
	assert.NotZero(t, got[len(got)-1])
}
