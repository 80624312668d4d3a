package machine

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/internal/syncbuf"
	"github.com/gonest/gonest/internal/tinyelf"
	"github.com/gonest/gonest/kvm/kvmtest"
	"github.com/gonest/gonest/vcpu"
)

// Hostile tiny guests: each does something a broken or malicious kernel
// might, on real KVM. Every one must end with the VMM alive and a clear
// outcome: a guest-visible result (all-ones reads, dropped writes, the exit
// code it chose) or a fatal outcome with a register dump. None may hang
// the VMM, panic it, or make it touch memory outside the guest.

// Instructions the tinyelf assembler lacks, spelled out.
var (
	shrEAX8  = []byte{0xc1, 0xe8, 0x08}       // shr eax, 8
	decECX   = []byte{0xff, 0xc9}             // dec ecx
	jnzBack5 = []byte{0x75, 0xfb}             // jnz to the 1-byte OUT/IN before a dec ecx
	jmpBack3 = []byte{0xeb, 0xfd}             // jmp to the 1-byte instruction before it
	repInsB  = []byte{0xf3, 0x6c}             // rep insb: RCX bytes from port DX to [RDI]
	cliHlt   = []byte{0xfa, 0xf4, 0xeb, 0xfc} // cli; hlt; jmp to the cli
	divECX0  = []byte{0x31, 0xc9, 0xf7, 0xf1} // xor ecx, ecx; div ecx: #DE
	jmpRAX   = []byte{0xff, 0xe0}             // jmp rax
)

// movRAX is mov rax, imm64.
func movRAX(v uint64) []byte {
	b := []byte{0x48, 0xb8}
	for i := 0; i < 8; i++ {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// markEAX reports EAX, low byte first, as four timing markers: the marker
// port records one byte per write.
func markEAX(a *tinyelf.Asm) {
	a.MovDX(boot.MarkerPort)
	for i := 0; i < 4; i++ {
		a.OutB()
		if i < 3 {
			a.Raw(shrEAX8...)
		}
	}
}

// markers collects the guest's markers.
type markers struct {
	mu  sync.Mutex
	ids []uint32
}

func (m *markers) add(mk Marker) { m.mu.Lock(); m.ids = append(m.ids, mk.Value); m.mu.Unlock() }
func (m *markers) get() []uint32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]uint32(nil), m.ids...)
}

const guestRAM = 64 << 20 // what runTiny gives the guest

func TestHostileUnmappedMMIO(t *testing.T) {
	tests := []struct {
		name string
		addr uint64
	}{
		{"just past the end of RAM", guestRAM},
		{"in the hole between PCI window and IOAPIC", 0xFD00_0000},
		{"last dword below 4G", 0xFFFF_FFFC},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a tinyelf.Asm
			a.MovRBX(tc.addr).LoadRBX() // read: all-ones
			markEAX(&a)
			a.MovEAX(0x1234_5678).StoreRBX() // write: dropped
			a.LoadRBX()                      // so this reads all-ones again
			markEAX(&a)
			a.Exit(boot.ExitPort, 7).Hlt()
			var mk markers
			o, _, m := runTiny(t, a.Bytes(), func(c *Config) { c.OnMarker = mk.add })
			require.Equal(t, ReasonExitPort, o.Reason, "outcome %v", o)
			assert.Equal(t, 7, o.Code)
			assert.Equal(t, []uint32{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, mk.get(),
				"reads of unmapped MMIO return all-ones, before and after a write")
			s := m.Stats(o).Exits
			assert.Equal(t, uint64(2), s.UnmappedMMIOReads)
			assert.Equal(t, uint64(1), s.UnmappedMMIOWrites)
			assert.Equal(t, tc.addr, s.LastUnmappedMMIO)
		})
	}
}

// stormSize scales a hostile guest's exit count down 256 times in -short
// runs: the lab runs these tests on QEMU's emulated CPU, where one exit
// costs 100-200 µs in H and about 1 ms in G1 (against ~25 µs here).
func stormSize(n int) int {
	if testing.Short() {
		return n / 256
	}
	return n
}

func TestHostilePortStorm(t *testing.T) {
	n := stormSize(20000)
	const port = 0x2345 // claimed by no device
	tests := []struct {
		name       string
		insn       []byte
		wantReads  uint64
		wantWrites uint64
	}{
		{"outb", []byte{0xee}, 0, uint64(n)},
		{"inb", []byte{0xec}, uint64(n), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a tinyelf.Asm
			a.MovDX(port).MovRCX(uint32(n)).Raw(tc.insn...).Raw(decECX...).Raw(jnzBack5...)
			a.Exit(boot.ExitPort, 3).Hlt()
			start := time.Now()
			o, _, m := runTiny(t, a.Bytes(), nil)
			require.Equal(t, ReasonExitPort, o.Reason, "outcome %v", o)
			assert.Equal(t, 3, o.Code)
			s := m.Stats(o).Exits
			assert.Equal(t, tc.wantReads, s.UnmappedPIOReads)
			assert.Equal(t, tc.wantWrites, s.UnmappedPIOWrites)
			assert.Equal(t, uint16(port), s.LastUnmappedPort)
			t.Logf("%d exits to an unclaimed port in %s", n, time.Since(start))
		})
	}
}

// TestHostileRepOuts: a rep outs/ins with a count of a million (4 Ki in
// -short runs) must be carried out element by element, bounded by guest
// RAM. KVM batches rep ins up to a page per exit; rep outs exits once per
// element on both kvm_pvm and SVM/VMX KVM (the emulator's OUTS does one).
func TestHostileRepOuts(t *testing.T) {
	count := stormSize(1 << 20)
	t.Run("outsb to the POST port", func(t *testing.T) {
		var a tinyelf.Asm
		a.MovRSI(tinyelf.LoadAddr).MovRCX(uint32(count)).MovDX(boot.POSTPort).RepOutsB()
		a.Exit(boot.ExitPort, 0).Hlt()
		o, _, m := runTiny(t, a.Bytes(), nil)
		require.Equal(t, ReasonExitPort, o.Reason, "outcome %v", o)
		assert.Equal(t, 0, o.Code)
		assert.Equal(t, uint64(count), accesses(m, o, "post (0x80)"), "every byte reached the device")
		t.Logf("%d bytes in %d KVM_EXIT_IO exits", count, m.Stats(o).Exits.Exits["KVM_EXIT_IO"])
	})
	t.Run("outsb to the serial port", func(t *testing.T) {
		// A quarter of the count: KVM may exit once per byte of rep outs
		// (kvm_pvm does), and each byte goes through the UART's path.
		count := count / 4
		var a tinyelf.Asm
		a.MovRSI(tinyelf.LoadAddr).MovRCX(uint32(count)).MovDX(boot.COM1Port).RepOutsB()
		a.Exit(boot.ExitPort, 0).Hlt()
		o, console, m := runTiny(t, a.Bytes(), nil)
		require.Equal(t, ReasonExitPort, o.Reason, "outcome %v", o)
		assert.Equal(t, 0, o.Code)
		assert.Equal(t, uint64(count), accesses(m, o, "serial (COM1)"))
		// A guest that ignores LSR may lose bytes, never gain any: what
		// arrived is a prefix-ordered subset of guest RAM, at most count.
		assert.LessOrEqual(t, len(console), count)
		assert.NotEmpty(t, console)
	})
	t.Run("outsb reading past the end of RAM", func(t *testing.T) {
		// The source runs from 16 bytes below the end of RAM into unmapped
		// guest-physical space (identity-mapped, so no page fault).
		var a tinyelf.Asm
		n := stormSize(1 << 16)
		a.MovRSI(guestRAM - 16).MovRCX(uint32(n)).MovDX(boot.POSTPort).RepOutsB()
		a.Exit(boot.ExitPort, 0).Hlt()
		o, _, m := runTiny(t, a.Bytes(), nil)
		assertCleanOutcome(t, o)
		if o.Reason == ReasonExitPort {
			// KVM fetches each byte beyond RAM with an MMIO exit, which
			// reads all-ones, and the copy goes on to the end.
			assert.Equal(t, uint64(n), accesses(m, o, "post (0x80)"))
			assert.Equal(t, uint64(n-16), m.Stats(o).Exits.UnmappedMMIOReads)
		}
	})
	t.Run("outsb from an unmapped virtual address", func(t *testing.T) {
		// 0xffffffff80000000 has no page table entry: #PF with no IDT.
		var a tinyelf.Asm
		a.MovRSI(0x8000_0000).MovRCX(uint32(count)).MovDX(boot.POSTPort).RepOutsB()
		a.Exit(boot.ExitPort, 0).Hlt()
		o, _, _ := runTiny(t, a.Bytes(), nil)
		assert.Equal(t, ReasonFatal, o.Reason, "outcome %v", o)
		assert.Equal(t, ExitFailure, o.Code)
		assert.ErrorContains(t, o.Err, "SHUTDOWN")
	})
	t.Run("insb from an unclaimed port fills RAM with all-ones", func(t *testing.T) {
		const dst = 0x20_0000
		var a tinyelf.Asm
		a.MovRDI(dst).MovRCX(uint32(count)).MovDX(0x2345).Raw(repInsB...)
		a.MovRBX(uint64(dst + count - 4)).LoadRBX()
		markEAX(&a)
		a.Exit(boot.ExitPort, 0).Hlt()
		var mk markers
		o, _, m := runTiny(t, a.Bytes(), func(c *Config) { c.OnMarker = mk.add })
		require.Equal(t, ReasonExitPort, o.Reason, "outcome %v", o)
		assert.Equal(t, []uint32{0xff, 0xff, 0xff, 0xff}, mk.get())
		assert.Equal(t, uint64(count), m.Stats(o).Exits.UnmappedPIOReads)
		b, err := m.Memory().Slice(dst, uint64(count))
		require.NoError(t, err)
		for i, c := range b {
			if c != 0xff {
				t.Fatalf("guest RAM %#x = %#x, want 0xff", dst+i, c)
			}
		}
	})
}

func TestHostileNeverHalts(t *testing.T) {
	tests := []struct {
		name string
		code []byte
		// neverExits: the guest spins with IF=0 and never exits, so only a
		// VM exit forced by a host interrupt lets the timeout stop it.
		neverExits bool
	}{
		{"jmp $", []byte{0xeb, 0xfe}, true},
		{"cli; hlt forever", cliHlt, false},
		{"endless port writes", append([]byte{0x66, 0xba, 0x45, 0x23, 0xee}, jmpBack3...), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.neverExits {
				kvmtest.RequireStopWithIFClear(t)
			}
			start := time.Now()
			o, _, _ := runTiny(t, tc.code, func(c *Config) { c.Timeout = 300 * time.Millisecond })
			assert.Equal(t, ReasonTimeout, o.Reason, "outcome %v", o)
			assert.Equal(t, ExitTimeout, o.Code)
			assert.ErrorContains(t, o.Err, "-timeout 300ms")
			assert.Less(t, time.Since(start), 10*time.Second, "stopped promptly")
		})
	}
}

func TestHostileTripleFaults(t *testing.T) {
	tests := []struct {
		name string
		code []byte
	}{
		{"ud2", []byte{0x0f, 0x0b}},
		{"divide by zero", divECX0},
		{"jump to an unmapped address", append(movRAX(0x2_0000_0000), jmpRAX...)},
		{"jump to a non-canonical address", append(movRAX(0x8000_0000_0000_0000), jmpRAX...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, _, _ := runTiny(t, tc.code, nil)
			require.Equal(t, ReasonFatal, o.Reason, "outcome %v", o)
			assert.Equal(t, ExitFailure, o.Code)
			var fe *vcpu.FatalError
			require.ErrorAs(t, o.Err, &fe)
			assert.Contains(t, o.Err.Error(), "SHUTDOWN")
			assert.Contains(t, fe.Dump(), "rip=", "a register dump says where it died")
		})
	}
}

// TestHostileExitPortSizes documents the exit device's contract for odd
// accesses: outw and outl at the exit port exit with their low byte; an
// access at another offset of the device is ignored; one that straddles the
// device's end reaches no device and is dropped. The guest then goes on to
// its byte write, whose code proves the odd access did not end the run.
func TestHostileExitPortSizes(t *testing.T) {
	tests := []struct {
		name string
		asm  func(a *tinyelf.Asm)
		want int
	}{
		{"outw: low byte", func(a *tinyelf.Asm) { a.MovDX(boot.ExitPort).MovEAX(0x1234).OutW() }, 0x34},
		{"outl: low byte", func(a *tinyelf.Asm) { a.MovDX(boot.ExitPort).MovEAX(0xdead_be07).OutL() }, 7},
		{"outl of 0x100: exit 0", func(a *tinyelf.Asm) { a.MovDX(boot.ExitPort).MovEAX(0x100).OutL() }, 0},
		{"outb at offset 1: ignored", func(a *tinyelf.Asm) { a.MovDX(boot.ExitPort + 1).MovAL(9).OutB() }, 5},
		{"outw at offset 2: ignored", func(a *tinyelf.Asm) { a.MovDX(boot.ExitPort + 2).MovEAX(9).OutW() }, 5},
		{"outl straddling into the marker port: dropped", func(a *tinyelf.Asm) {
			a.MovDX(boot.ExitPort + 2).MovEAX(9).OutL()
		}, 5},
		{"inl from the exit port: reads 0, no exit", func(a *tinyelf.Asm) {
			a.MovDX(boot.ExitPort).Raw(0xed) // in eax, dx
		}, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a tinyelf.Asm
			tc.asm(&a)
			a.Exit(boot.ExitPort, 5).Hlt()
			o, _, _ := runTiny(t, a.Bytes(), nil)
			require.Equal(t, ReasonExitPort, o.Reason, "outcome %v", o)
			assert.Equal(t, tc.want, o.Code)
		})
	}
}

// accesses returns how many accesses the named device served.
func accesses(m *Machine, o Outcome, name string) uint64 {
	for _, d := range m.Stats(o).Devices {
		if d.Name == name {
			return d.Accesses
		}
	}
	return 0
}

// assertCleanOutcome accepts the outcomes a hostile guest may earn: the
// exit code it chose, or a fatal error that carries a register dump.
func assertCleanOutcome(t *testing.T, o Outcome) {
	t.Helper()
	switch o.Reason {
	case ReasonExitPort:
	case ReasonFatal:
		var fe *vcpu.FatalError
		assert.ErrorAs(t, o.Err, &fe, "a fatal outcome carries a register dump")
	default:
		t.Errorf("outcome %v: want the guest's exit code or a fatal error", o)
	}
}

// TestNewRejectsFIFOAndDevices: a FIFO or a device given as the kernel or
// initrd is refused at once; opening a FIFO must not wait for a writer.
func TestNewRejectsFIFOAndDevices(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	kernel, err := tinyelf.Write(dir, "k.elf", []byte{0xf4})
	require.NoError(t, err)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"fifo kernel", Config{Kernel: fifo}, "kernel " + fifo + ": not a regular file"},
		{"fifo initrd", Config{Kernel: kernel, Initrd: fifo}, "initrd " + fifo + ": not a regular file"},
		{"char device kernel", Config{Kernel: "/dev/zero"}, "kernel /dev/zero: not a regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.MemSize, tc.cfg.CPUs = guestRAM, 1
			done := make(chan error, 1)
			go func() { _, err := New(tc.cfg); done <- err }()
			select {
			case err := <-done:
				require.Error(t, err)
				assert.True(t, IsInputError(err))
				assert.EqualError(t, err, tc.want)
			case <-time.After(5 * time.Second):
				t.Fatal("New still blocked after 5s")
			}
		})
	}
}

// TestBadKernelNeedsNoKVM: a kernel file that is not a kernel is reported
// as bad input even where /dev/kvm cannot be opened.
func TestBadKernelNeedsNoKVM(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	require.NoError(t, os.WriteFile(garbage, []byte("MZ not a kernel at all, just some bytes"), 0o644))
	arm := tinyelf.Build([]byte{0xf4})
	arm[18] = 183 // e_machine: EM_AARCH64
	aarch64 := filepath.Join(dir, "arm.elf")
	require.NoError(t, os.WriteFile(aarch64, arm, 0o644))
	tests := []struct {
		name, kernel string
		sentinel     error
	}{
		{"garbage", garbage, boot.ErrUnknownFormat},
		{"aarch64 ELF", aarch64, boot.ErrNotX86_64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Config{Kernel: tc.kernel, MemSize: guestRAM, CPUs: 1, KVMPath: filepath.Join(dir, "no-kvm")})
			require.Error(t, err)
			assert.True(t, IsInputError(err), "%v", err)
			assert.True(t, errors.Is(err, tc.sentinel), "%v wraps %v", err, tc.sentinel)
			assert.Contains(t, err.Error(), "kernel "+tc.kernel+": ")
		})
	}
}

// pciStorm writes value to every configuration dword of every function on
// PCI bus 0 through CONFIG_ADDRESS/CONFIG_DATA (0xCF8/0xCFC).
func pciStorm(a *tinyelf.Asm, value, end uint32) {
	le := func(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
	a.Raw(append([]byte{0xbb}, le(0x8000_0000)...)...) // mov ebx, enable bit | bus 0 dev 0 fn 0 reg 0
	a.Raw(0x89, 0xd8)                                  // L: mov eax, ebx
	a.MovDX(boot.PCIConfigPort).OutL()                 // CONFIG_ADDRESS
	a.MovEAX(value)                                    //
	a.MovDX(boot.PCIConfigPort + 4).OutL()             // CONFIG_DATA
	a.Raw(0x83, 0xc3, 0x04)                            // add ebx, 4
	a.Raw(append([]byte{0x81, 0xfb}, le(end)...)...)   // cmp ebx, end
	a.Raw(0x72, 0xe4)                                  // jb L (28 bytes back)
}

// pciWrite writes value to configuration register reg of bus 0, slot dev.
func pciWrite(a *tinyelf.Asm, dev int, reg uint8, value uint32) {
	a.MovEAX(0x8000_0000 | uint32(dev)<<11 | uint32(reg)).MovDX(boot.PCIConfigPort).OutL()
	a.MovEAX(value).MovDX(boot.PCIConfigPort + 4).OutL()
}

// TestHostilePCIConfigStorm: a guest writes all-ones, then zeros, to every
// configuration register of every slot, then places both disks' 64-bit
// BAR0 at the same address with decoding on, then over its own RAM, then
// writes a third storm. The VMM keeps running, never decodes a BAR outside
// the PCI window, and the disks are untouched.
func TestHostilePCIConfigStorm(t *testing.T) {
	dir := t.TempDir()
	img := make([]byte, 1<<20)
	copy(img, "hostile PCI test disk")
	var disks []DiskSpec
	for _, name := range []string{"a.img", "b.img"} {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, img, 0o644))
		disks = append(disks, DiskSpec{Path: p})
	}
	const (
		regCommand = 0x04
		regBAR0    = 0x10
		regBAR1    = 0x14
		memMaster  = 0x6 // COMMAND: memory space, bus master
	)
	// Every register of every function of bus 0; in -short runs (the lab's
	// emulated CPUs) slots 0-2: the host bridge and both disks.
	end := uint32(0x8001_0000)
	if testing.Short() {
		end = 0x8000_1800
	}
	var a tinyelf.Asm
	pciStorm(&a, 0xffff_ffff, end)
	pciStorm(&a, 0, end)
	for _, base := range []uint32{boot.PCIMMIO32Start, tinyelf.LoadAddr} {
		for dev := firstSlot; dev < firstSlot+len(disks); dev++ {
			pciWrite(&a, dev, regBAR0, base)
			pciWrite(&a, dev, regBAR1, 0)
			pciWrite(&a, dev, regCommand, memMaster)
		}
	}
	pciStorm(&a, 0x5a5a_5a5a, end)
	a.Exit(boot.ExitPort, 42).Hlt()
	log := new(syncbuf.Buffer)
	o, _, m := runTiny(t, a.Bytes(), func(c *Config) {
		c.Disks = disks
		c.Logger = slog.New(slog.NewTextHandler(log, nil))
	})
	require.Equal(t, ReasonExitPort, o.Reason, "outcome %v", o)
	assert.Equal(t, 42, o.Code)
	assert.Contains(t, log.String(), "pci bar left unmapped", "the storm made the disks' BARs collide")
	assert.NotContains(t, log.String(), "level=ERROR")
	for _, mp := range m.mmio.Mappings() {
		inside := mp.Base >= boot.PCIMMIO32Start && mp.Base+mp.Size <= boot.PCIMMIO32Start+boot.PCIMMIO32Size
		assert.True(t, inside, "%s decoded at %#x+%#x, outside the PCI window", mp.Name, mp.Base, mp.Size)
	}
	require.NoError(t, m.Close())
	for _, d := range disks {
		got, err := os.ReadFile(d.Path)
		require.NoError(t, err)
		assert.True(t, bytes.Equal(img, got), "%s unchanged", d.Path)
	}
}
