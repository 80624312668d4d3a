package pci

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/gonest/gonest/devices"
)

// Function is one PCI function on the bus. Its configuration space is a
// Config; a function that must know where its BARs are decoded also
// implements BARObserver.
type Function interface {
	PCIConfig() *Config
}

// BARObserver is implemented by functions that act when a BAR starts or
// stops being decoded, for example to move KVM ioeventfds along with it.
// The calls come from the vCPU thread whose configuration write caused
// them, never with a Config lock held.
type BARObserver interface {
	BARMapped(index int, base uint64)
	BARUnmapped(index int, base uint64)
}

// AddressSpace is where decoded BARs appear: the board's MMIO bus.
// *devices.Bus satisfies it.
type AddressSpace interface {
	Insert(dev devices.Device, base, size uint64) error
	Remove(base uint64) bool
}

// CapabilityHandler emulates a capability whose fields have side effects.
// Offsets are relative to the capability's first (ID) byte; cur is a copy
// of the whole capability as stored. The calls run without the Config lock.
type CapabilityHandler interface {
	// ReadCapability may overwrite data, which holds the stored bytes of a
	// guest read at off.
	ReadCapability(off int, data []byte, cur []byte)
	// WriteCapability runs after a guest write of data at off has been
	// stored through the capability's write mask.
	WriteCapability(off int, data []byte, cur []byte)
}

// Header identifies a function.
type Header struct {
	VendorID          uint16
	DeviceID          uint16
	Revision          uint8
	Class             uint32 // 24-bit class code: base class<<16 | subclass<<8 | programming interface
	SubsystemVendorID uint16
	SubsystemID       uint16
	// InterruptPin gives the function an INTA# pin (the board routes it).
	InterruptPin bool
}

// BAR is one BAR of a function: memory space, or with IO port I/O space.
type BAR struct {
	// Size is a power of two: at least 16 bytes for a memory BAR, 4 to
	// 256 bytes for an I/O BAR (PCI 3.0 §6.2.5.1).
	Size uint64
	// IO makes an I/O space BAR, decoded on the port I/O bus while
	// COMMAND.IO is set. It cannot be 64-bit or prefetchable.
	IO bool
	// Is64 makes a 64-bit memory BAR, which also takes the next BAR
	// register.
	Is64 bool
	// Prefetchable promises that reads have no side effects.
	Prefetchable bool
	// Device serves guest accesses; it sees offsets inside the BAR.
	Device devices.Device
}

type barState struct {
	BAR
	addr     uint64 // programmed address, guarded by Config.mu
	mapped   bool   // guarded by Config.mapMu
	mappedAt uint64 // guarded by Config.mapMu
	warned   bool   // guarded by Config.mapMu
}

type capability struct {
	off, length int
	h           CapabilityHandler
}

// Config is the 256-byte configuration space of one function: a type 0
// header with per-byte write masks (read-only, read-write, write-1-to-clear
// bits), memory BARs and a capability list. It is safe for concurrent use.
type Config struct {
	mu    sync.Mutex
	regs  [ConfigSize]byte
	wmask [ConfigSize]byte
	w1c   [ConfigSize]byte
	bars  [NumBARs]*barState
	upper [NumBARs]bool // register i holds the high half of BAR i-1
	caps  []capability
	last  int // offset of the next pointer to patch when a capability is added
	// devEnd is one past the last device-specific register
	// (SetDeviceRegisters); capabilities start there or later.
	devEnd int

	command atomic.Uint32 // COMMAND, for lock-free readers on the interrupt path
	intx    atomic.Bool   // StatusInterrupt

	mapMu    sync.Mutex   // serializes BAR (un)mapping
	mem      addressSpace // where memory BARs are decoded
	io       addressSpace // where I/O BARs are decoded
	observer BARObserver
	log      *slog.Logger
}

// NewConfig returns the configuration space of a function with header h
// and no BARs or capabilities.
func NewConfig(h Header) *Config {
	c := &Config{last: RegCapabilityList, log: slog.New(slog.DiscardHandler)}
	binary.LittleEndian.PutUint16(c.regs[RegVendorID:], h.VendorID)
	binary.LittleEndian.PutUint16(c.regs[RegDeviceID:], h.DeviceID)
	c.regs[RegRevision] = h.Revision
	c.regs[RegProgIf] = byte(h.Class)
	c.regs[RegSubclass] = byte(h.Class >> 8)
	c.regs[RegClass] = byte(h.Class >> 16)
	c.regs[RegHeaderType] = headerType0
	binary.LittleEndian.PutUint16(c.regs[RegSubsystemVendorID:], h.SubsystemVendorID)
	binary.LittleEndian.PutUint16(c.regs[RegSubsystemID:], h.SubsystemID)
	if h.InterruptPin {
		c.regs[RegInterruptPin] = interruptPinA
	}
	binary.LittleEndian.PutUint16(c.wmask[RegCommand:], commandWritable)
	binary.LittleEndian.PutUint16(c.w1c[RegStatus:], statusW1C)
	c.wmask[RegCacheLineSize] = 0xFF
	c.wmask[RegInterruptLine] = 0xFF
	return c
}

// AddBAR declares BAR index. A 64-bit BAR also takes register index+1.
// BARs are declared before the function is added to a bus. An I/O BAR
// makes COMMAND.IO writable.
func (c *Config) AddBAR(index int, b BAR) error {
	if index < 0 || index >= NumBARs || (b.Is64 && index+1 >= NumBARs) {
		return fmt.Errorf("pci bar %d: index out of range", index)
	}
	switch {
	case b.IO && (b.Is64 || b.Prefetchable):
		return fmt.Errorf("pci bar %d: an I/O BAR is neither 64-bit nor prefetchable", index)
	case b.IO && (b.Size < minIOBARSize || b.Size > maxIOBARSize || bits.OnesCount64(b.Size) != 1):
		return fmt.Errorf("pci bar %d: I/O size %#x must be a power of two from %d to %d bytes", index, b.Size, minIOBARSize, maxIOBARSize)
	case !b.IO && (b.Size < minBARSize || bits.OnesCount64(b.Size) != 1 || (!b.Is64 && b.Size > maxBAR32Size)):
		return fmt.Errorf("pci bar %d: size %#x must be a power of two of at least %d bytes", index, b.Size, minBARSize)
	}
	if b.Device == nil {
		return fmt.Errorf("pci bar %d: nil device", index)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bars[index] != nil || c.upper[index] || (b.Is64 && (c.bars[index+1] != nil || c.upper[index+1])) {
		return fmt.Errorf("pci bar %d: already in use", index)
	}
	c.bars[index] = &barState{BAR: b}
	if b.Is64 {
		c.upper[index+1] = true
	}
	if b.IO {
		c.wmask[RegCommand] |= CommandIO
	}
	c.storeBAR(index)
	return nil
}

// AddCapability appends a capability with the given ID to the list and
// returns its offset in configuration space. body is what follows the ID
// and next-pointer bytes; writable holds, per body byte, the bits the guest
// may change (nil: none). h, which may be nil, sees guest accesses.
func (c *Config) AddCapability(id uint8, body, writable []byte, h CapabilityHandler) (int, error) {
	if writable != nil && len(writable) != len(body) {
		return 0, fmt.Errorf("pci capability %#x: %d mask bytes for %d body bytes", id, len(writable), len(body))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	off := max(firstCapability, (c.devEnd+3)&^3)
	if n := len(c.caps); n > 0 {
		off = c.caps[n-1].off + c.caps[n-1].length
	}
	length := (2 + len(body) + 3) &^ 3
	if off+length > ConfigSize {
		return 0, fmt.Errorf("pci capability %#x: %d bytes do not fit in configuration space", id, length)
	}
	c.regs[off] = id
	copy(c.regs[off+2:], body)
	if writable != nil {
		copy(c.wmask[off+2:], writable)
	}
	c.regs[c.last] = byte(off)
	c.last = off + 1
	binary.LittleEndian.PutUint16(c.regs[RegStatus:], binary.LittleEndian.Uint16(c.regs[RegStatus:])|StatusCapList)
	c.caps = append(c.caps, capability{off: off, length: length, h: h})
	return off, nil
}

// SetDeviceRegisters gives the bytes [off, off+len(init)) of the
// device-specific area (0x40 to 0xFF) their reset values and, per byte,
// the bits the guest may change: a chipset's own registers, such as the
// PIIX's IDE timing registers. They are plain storage; call it before any
// capability is added, which then goes after them.
func (c *Config) SetDeviceRegisters(off int, init, writable []byte) error {
	if len(writable) != len(init) {
		return fmt.Errorf("pci device registers at %#x: %d mask bytes for %d bytes", off, len(writable), len(init))
	}
	if off < firstCapability || off+len(init) > ConfigSize {
		return fmt.Errorf("pci device registers at %#x+%d: outside the device-specific area %#x-%#x", off, len(init), firstCapability, ConfigSize-1)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.caps) > 0 {
		return fmt.Errorf("pci device registers at %#x: set them before adding capabilities", off)
	}
	copy(c.regs[off:], init)
	copy(c.wmask[off:], writable)
	c.devEnd = max(c.devEnd, off+len(init))
	return nil
}

// Command returns the COMMAND register without taking a lock.
func (c *Config) Command() uint16 { return uint16(c.command.Load()) }

// SetInterruptStatus sets the Interrupt Status bit of STATUS, which mirrors
// the function's INTx level.
func (c *Config) SetInterruptStatus(asserted bool) { c.intx.Store(asserted) }

// BARAddress returns where BAR index is programmed and whether it is
// currently decoded at that address.
func (c *Config) BARAddress(index int) (base uint64, mapped bool) {
	if index < 0 || index >= NumBARs {
		return 0, false
	}
	c.mapMu.Lock()
	defer c.mapMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.bars[index]
	if b == nil {
		return 0, false
	}
	return b.addr, b.mapped && b.mappedAt == b.addr
}

// Read fills data from configuration space at reg. Bytes outside the 256
// bytes read as 0xFF.
func (c *Config) Read(reg uint64, data []byte) {
	if reg >= ConfigSize || uint64(len(data)) > ConfigSize-reg {
		fill(data, 0xFF)
		return
	}
	off := int(reg)
	c.mu.Lock()
	copy(data, c.regs[off:])
	if c.intx.Load() && off <= RegStatus && off+len(data) > RegStatus {
		data[RegStatus-off] |= StatusInterrupt
	}
	cp, cur := c.capFor(off, len(data))
	c.mu.Unlock()
	if cp != nil {
		cp.h.ReadCapability(off-cp.off, data, cur)
	}
}

// Write stores data at reg through the write masks. BAR and COMMAND
// writes may move or (un)map BARs on the address space.
func (c *Config) Write(reg uint64, data []byte) {
	if reg >= ConfigSize || uint64(len(data)) > ConfigSize-reg {
		return
	}
	off := int(reg)
	remap := false
	c.mu.Lock()
	for i := 0; i < len(data); {
		o := off + i
		dw := o &^ 3
		n := min(len(data)-i, dw+4-o)
		if dw >= RegBAR0 && dw < RegBAR0+4*NumBARs {
			remap = c.writeBAR((dw-RegBAR0)/4, o-dw, data[i:i+n]) || remap
		} else {
			for k, v := range data[i : i+n] {
				old := c.regs[o+k]
				c.regs[o+k] = (old&^c.wmask[o+k] | v&c.wmask[o+k]) &^ (v & c.w1c[o+k])
			}
			if o <= RegCommand+1 && o+n > RegCommand {
				c.command.Store(uint32(binary.LittleEndian.Uint16(c.regs[RegCommand:])))
				remap = true
			}
		}
		i += n
	}
	cp, cur := c.capFor(off, len(data))
	c.mu.Unlock()
	if remap {
		c.updateMappings()
	}
	if cp != nil {
		cp.h.WriteCapability(off-cp.off, data, cur)
	}
}

// capFor returns the capability with a handler that holds all of
// [off, off+n), and a copy of its bytes. c.mu must be held.
func (c *Config) capFor(off, n int) (*capability, []byte) {
	for i := range c.caps {
		cp := &c.caps[i]
		if cp.h != nil && off >= cp.off && off+n <= cp.off+cp.length {
			return cp, append([]byte(nil), c.regs[cp.off:cp.off+cp.length]...)
		}
	}
	return nil, nil
}

// writeBAR merges a write of data at byte offset within BAR register i and
// reports whether a programmed address changed. c.mu must be held.
func (c *Config) writeBAR(i, within int, data []byte) bool {
	owner := i
	if c.upper[i] {
		owner = i - 1
	}
	b := c.bars[owner]
	if b == nil {
		return false // unimplemented BAR: hardwired to zero
	}
	var reg [4]byte
	copy(reg[:], c.regs[RegBAR0+4*i:RegBAR0+4*i+4])
	copy(reg[within:], data)
	v := uint64(binary.LittleEndian.Uint32(reg[:]))
	old := b.addr
	if c.upper[i] {
		b.addr = b.addr&0xFFFFFFFF | v<<32
	} else {
		b.addr = b.addr&^0xFFFFFFFF | v&^b.flagsMask()
	}
	b.addr &^= b.Size - 1
	c.storeBAR(owner)
	return b.addr != old
}

// flagsMask is the read-only low bits of the BAR register.
func (b *barState) flagsMask() uint64 {
	if b.IO {
		return ioBARFlagsMask
	}
	return barFlagsMask
}

// storeBAR writes BAR i's address and flags into the registers.
func (c *Config) storeBAR(i int) {
	b := c.bars[i]
	flags := uint32(0)
	if b.IO {
		flags |= BARSpaceIO
	}
	if b.Is64 {
		flags |= BARMem64
	}
	if b.Prefetchable {
		flags |= BARPrefetch
	}
	binary.LittleEndian.PutUint32(c.regs[RegBAR0+4*i:], uint32(b.addr)|flags)
	if b.Is64 {
		binary.LittleEndian.PutUint32(c.regs[RegBAR0+4*(i+1):], uint32(b.addr>>32))
	}
}

// attach connects the function to a bus: where its memory and I/O BARs
// may be decoded.
func (c *Config) attach(mem, io addressSpace, observer BARObserver, log *slog.Logger) {
	c.mapMu.Lock()
	c.mem, c.io, c.observer = mem, io, observer
	if log != nil {
		c.log = log
	}
	c.mapMu.Unlock()
	c.updateMappings()
}

// program sets BAR i's address, as firmware does before the guest runs.
func (c *Config) program(i int, addr uint64) {
	c.mu.Lock()
	c.bars[i].addr = addr &^ (c.bars[i].Size - 1)
	c.storeBAR(i)
	c.mu.Unlock()
	c.updateMappings()
}

type barChange struct {
	index         int
	unmap, doMap  bool
	oldBase, base uint64
	size          uint64
	dev           devices.Device
}

// updateMappings makes the address spaces match the BAR registers and the
// COMMAND decode bits: a memory BAR is decoded while COMMAND.Memory is on
// and it lies inside a memory window, an I/O BAR while COMMAND.IO is on and
// it lies inside an I/O window.
func (c *Config) updateMappings() {
	c.mapMu.Lock()
	defer c.mapMu.Unlock()
	if c.mem.space == nil {
		return
	}
	var changes []barChange
	c.mu.Lock()
	cmd := c.Command()
	for i, b := range c.bars {
		if b == nil {
			continue
		}
		as, decode := &c.mem, cmd&CommandMemory != 0
		if b.IO {
			as, decode = &c.io, cmd&CommandIO != 0
		}
		want := decode && as.space != nil && as.inWindow(b.addr, b.Size)
		if b.mapped && (!want || b.mappedAt != b.addr) {
			changes = append(changes, barChange{index: i, unmap: true, oldBase: b.mappedAt})
		}
		if want && (!b.mapped || b.mappedAt != b.addr) {
			changes = append(changes, barChange{index: i, doMap: true, base: b.addr, size: b.Size, dev: b.Device})
		}
	}
	c.mu.Unlock()
	for _, ch := range changes {
		b := c.bars[ch.index]
		space := c.mem.space
		if b.IO {
			space = c.io.space
		}
		if ch.unmap {
			space.Remove(ch.oldBase)
			b.mapped = false
			if c.observer != nil {
				c.observer.BARUnmapped(ch.index, ch.oldBase)
			}
			continue
		}
		if err := space.Insert(ch.dev, ch.base, ch.size); err != nil {
			// The guest placed the BAR over something else. Real
			// hardware would decode both and conflict; gonest leaves it
			// unmapped until the guest moves it.
			if !b.warned {
				c.log.Warn("pci bar left unmapped", "bar", ch.index, "base", fmt.Sprintf("%#x", ch.base), "err", err)
				b.warned = true
			}
			continue
		}
		b.mapped, b.mappedAt, b.warned = true, ch.base, false
		c.log.Debug("pci bar mapped", "bar", ch.index, "at", fmt.Sprintf("%#x+%#x", ch.base, ch.size))
		if c.observer != nil {
			c.observer.BARMapped(ch.index, ch.base)
		}
	}
}

// addressSpace is one kind of space BARs are decoded in, with its windows.
type addressSpace struct {
	space   AddressSpace
	windows []Window
}

func (a *addressSpace) inWindow(base, size uint64) bool {
	for _, w := range a.windows {
		if w.contains(base, size) {
			return true
		}
	}
	return false
}

func fill(b []byte, v byte) {
	for i := range b {
		b[i] = v
	}
}
