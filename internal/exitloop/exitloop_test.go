package exitloop

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/tinyelf"
)

func TestParseKind(t *testing.T) {
	for _, k := range Kinds {
		got, err := ParseKind(string(k))
		require.NoError(t, err)
		assert.Equal(t, k, got)
	}
	_, err := ParseKind("nap")
	assert.EqualError(t, err, `no workload "nap" (workloads: cpuid, hlt, mmio, msr, pf, pio, spin)`)
}

func TestCodeLimits(t *testing.T) {
	_, err := Code(PF, MaxPFIterations+1)
	assert.ErrorContains(t, err, "at most 262144")
	_, err = Code(CPUID, MaxIterations+1)
	assert.ErrorContains(t, err, "at most")
	_, err = Code("nap", 1)
	assert.ErrorContains(t, err, `no workload "nap"`)
	_, err = Code(PF, MaxPFIterations)
	assert.NoError(t, err)
}

func TestMemorySize(t *testing.T) {
	assert.Equal(t, uint64(16<<20), MemorySize(CPUID, 1000))
	assert.Equal(t, uint64(33<<20), MemorySize(PF, 200), "16 MiB below, 1 MiB of fresh pages, 16 MiB above")
	assert.Equal(t, uint64(FreshBase+(1<<30)+(16<<20)), MemorySize(PF, MaxPFIterations))
	assert.Zero(t, MemorySize(PF, 3)%4096)
}

func TestMMIOAddrIsUnclaimed(t *testing.T) {
	assert.GreaterOrEqual(t, uint64(MMIOAddr), uint64(boot.PCIMMIO32Start+boot.PCIMMIO32Size), "above the PCI window")
	assert.Less(t, uint64(MMIOAddr), uint64(boot.IOAPICAddr), "below the IOAPIC")
}

// markerBytes is the code that writes marker m.
func markerBytes(m guestabi.Marker) []byte {
	var a tinyelf.Asm
	marker(&a, m)
	return a.Bytes()
}

func TestCodeLayout(t *testing.T) {
	bodies := map[Kind][]byte{
		PIO:   {0xee},
		MMIO:  {0x89, 0x03},
		CPUID: {0x31, 0xc0, 0x0f, 0xa2},
		MSR:   {0x0f, 0x30},
		PF:    {0x88, 0x03, 0x48, 0x81, 0xc3, 0x00, 0x10, 0x00, 0x00},
		Spin:  {0x90},
	}
	for _, k := range Kinds {
		t.Run(string(k), func(t *testing.T) {
			code, err := Code(k, 1234)
			require.NoError(t, err)
			assert.True(t, bytes.HasPrefix(code, markerBytes(guestabi.MarkerInitStarted)), "init started comes first")
			start := bytes.Index(code, markerBytes(guestabi.MarkerScenarioStart))
			end := bytes.Index(code, markerBytes(guestabi.MarkerScenarioEnd))
			require.Positive(t, start)
			require.Greater(t, end, start)
			// mov esi, n; test esi, esi; jz rel32
			count := bytes.Index(code[start:], []byte{0xbe, 0xd2, 0x04, 0, 0, 0x85, 0xf6, 0x0f, 0x84})
			require.Positive(t, count, "the loop counts 1234 in ESI")
			top := start + count + 13
			skip := int(int32(binary.LittleEndian.Uint32(code[top-4:])))
			assert.Equal(t, end, top+skip, "zero iterations jump straight to the end marker")
			// dec esi; jnz rel32 back to the top
			dec := bytes.Index(code[top:], []byte{0xff, 0xce, 0x0f, 0x85})
			require.GreaterOrEqual(t, dec, 0)
			back := top + dec + 8
			assert.Equal(t, top, back+int(int32(binary.LittleEndian.Uint32(code[back-4:]))), "jnz goes back to the top")
			if body, ok := bodies[k]; ok {
				assert.Equal(t, body, code[top:top+dec], "the loop body")
			}
			var exit tinyelf.Asm
			exit.Exit(guestabi.ExitPort, 0).Hlt()
			assert.True(t, bytes.Contains(code[end:], exit.Bytes()), "exit 0 after the end marker")
		})
	}
}

func TestHLTHandlerPatched(t *testing.T) {
	code, err := Code(HLT, 10)
	require.NoError(t, err)
	handler := timerHandler()
	require.True(t, bytes.HasSuffix(code, handler), "the handler ends the image")
	addr := uint32(tinyelf.LoadAddr + len(code) - len(handler))
	gate := uint32(idtAddr + timerVector*16)
	// The two stores that write the gate's first 8 bytes.
	lo := bytes.Index(code, append([]byte{0xc7, 0x04, 0x25}, le32(gate)...))
	require.Positive(t, lo)
	assert.Equal(t, codeSel<<16|addr&0xffff, binary.LittleEndian.Uint32(code[lo+7:]))
	hi := bytes.Index(code, append([]byte{0xc7, 0x04, 0x25}, le32(gate+4)...))
	require.Positive(t, hi)
	assert.Equal(t, addr&0xffff0000|0x8E00, binary.LittleEndian.Uint32(code[hi+7:]))
}

// TestSpinInterruptible: the spin loop runs with IF=1, so a kick stops it
// under Bochs too.
func TestSpinInterruptible(t *testing.T) {
	code, err := Code(Spin, 7)
	require.NoError(t, err)
	start := bytes.Index(code, markerBytes(guestabi.MarkerScenarioStart))
	require.Positive(t, start)
	after := code[start+len(markerBytes(guestabi.MarkerScenarioStart)):]
	assert.Equal(t, []byte{0xfb, 0xbe, 7, 0, 0, 0}, after[:6], "sti, then mov esi, n")
}

func TestELF(t *testing.T) {
	elf, err := ELF(Spin, 5)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x7f, 'E', 'L', 'F'}, elf[:4])
	_, err = ELF(PF, MaxPFIterations+1)
	assert.Error(t, err)
}
