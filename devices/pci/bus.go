package pci

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// NumSlots is the number of device numbers on a bus.
const NumSlots = 32

// Options configure a Bus.
type Options struct {
	// MMIO is where decoded BARs appear: the board's MMIO bus.
	MMIO AddressSpace
	// Windows are the guest physical ranges the host bridge forwards to
	// memory BARs (boot/layout.go's PCI MMIO window). BARs are allocated
	// in them, and a BAR the guest moves outside them is not decoded.
	Windows []Window
	// IO is where I/O BARs appear: the board's port I/O bus. Nil leaves
	// I/O BARs undecoded and unallocated.
	IO AddressSpace
	// IOWindows are the port ranges the host bridge forwards to I/O BARs
	// (boot/layout.go's PCI I/O window), as Windows are for memory BARs.
	IOWindows []Window
	// Reset, if set, runs when the guest requests a reset through the
	// reset control register at port 0xCF9 (Linux's reboot=pci).
	Reset func()
	// Logger receives rare events (a BAR the guest placed over another
	// device). Nil discards them.
	Logger *slog.Logger
}

// Bus is PCI bus 0 behind a host bridge: 32 device slots with one function
// each, and the host bridge itself at 00:00.0.
type Bus struct {
	opts    Options
	log     *slog.Logger
	mu      sync.RWMutex
	slots   [NumSlots]Function
	alloc   *Allocator
	ioAlloc *Allocator // nil without Options.IO
	conf    *ConfigIO
}

type hostBridge struct{ cfg *Config }

func (h *hostBridge) PCIConfig() *Config { return h.cfg }

// NewBus returns a bus with the host bridge at device 0.
func NewBus(o Options) (*Bus, error) {
	if o.MMIO == nil {
		return nil, fmt.Errorf("pci bus: no mmio address space")
	}
	alloc, err := NewAllocator(o.Windows)
	if err != nil {
		return nil, fmt.Errorf("pci bus: %w", err)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Bus{opts: o, log: log, alloc: alloc}
	b.opts.Windows = alloc.windows
	if o.IO != nil {
		if len(o.IOWindows) == 0 {
			return nil, fmt.Errorf("pci bus: an i/o space without an i/o window")
		}
		if b.ioAlloc, err = NewAllocator(o.IOWindows); err != nil {
			return nil, fmt.Errorf("pci bus: i/o %w", err)
		}
		b.opts.IOWindows = b.ioAlloc.windows
	}
	b.conf = &ConfigIO{bus: b}
	hb := &hostBridge{cfg: NewConfig(Header{
		VendorID: hostBridgeVendor,
		DeviceID: hostBridgeDevice,
		Class:    classHostPCI,
	})}
	if err := b.AddAt(0, hb); err != nil {
		return nil, err
	}
	return b, nil
}

// Add puts fn in the first free slot, places its BARs in the windows
// (naturally aligned, decoding still off, as firmware leaves them) and
// returns the slot.
func (b *Bus) Add(fn Function) (int, error) {
	b.mu.Lock()
	slot := -1
	for i, f := range b.slots {
		if f == nil {
			slot = i
			break
		}
	}
	b.mu.Unlock()
	if slot < 0 {
		return 0, fmt.Errorf("pci bus: all %d slots are in use", NumSlots)
	}
	return slot, b.AddAt(slot, fn)
}

// AddAt puts fn at device number slot; see Add.
func (b *Bus) AddAt(slot int, fn Function) error {
	if slot < 0 || slot >= NumSlots {
		return fmt.Errorf("pci bus: slot %d out of range 0-%d", slot, NumSlots-1)
	}
	cfg := fn.PCIConfig()
	if cfg == nil {
		return fmt.Errorf("pci bus: slot %d: function has no configuration space", slot)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.slots[slot] != nil {
		return fmt.Errorf("pci bus: slot %d is in use", slot)
	}
	cfg.mu.Lock()
	var sizes [NumBARs]uint64
	var below4G, io [NumBARs]bool
	for i, bs := range cfg.bars {
		if bs != nil {
			sizes[i], below4G[i], io[i] = bs.Size, !bs.Is64, bs.IO
		}
	}
	cfg.mu.Unlock()
	var addrs [NumBARs]uint64
	for i, size := range sizes {
		if size == 0 {
			continue
		}
		alloc := b.alloc
		if io[i] {
			if b.ioAlloc == nil {
				return fmt.Errorf("pci bus: slot %d bar %d: an I/O BAR on a bus without I/O space", slot, i)
			}
			alloc = b.ioAlloc
		}
		addr, err := alloc.Allocate(size, below4G[i])
		if err != nil {
			return fmt.Errorf("pci bus: slot %d bar %d: %w", slot, i, err)
		}
		addrs[i] = addr
	}
	for i, size := range sizes {
		if size != 0 {
			cfg.program(i, addrs[i])
		}
	}
	obs, _ := fn.(BARObserver)
	cfg.attach(addressSpace{b.opts.MMIO, b.opts.Windows}, addressSpace{b.opts.IO, b.opts.IOWindows}, obs, b.log)
	b.slots[slot] = fn
	return nil
}

// ReadConfig reads configuration space of bus:dev.fn at reg. Absent
// functions (and bus numbers other than 0) read as all ones, which is how
// software learns there is nothing there.
func (b *Bus) ReadConfig(bus, dev, fn uint8, reg uint64, data []byte) {
	cfg := b.lookup(bus, dev, fn)
	if cfg == nil {
		fill(data, 0xFF)
		return
	}
	cfg.Read(reg, data)
}

// WriteConfig writes configuration space of bus:dev.fn; writes to absent
// functions are dropped.
func (b *Bus) WriteConfig(bus, dev, fn uint8, reg uint64, data []byte) {
	if cfg := b.lookup(bus, dev, fn); cfg != nil {
		cfg.Write(reg, data)
	}
}

func (b *Bus) lookup(bus, dev, fn uint8) *Config {
	if bus != 0 || fn != 0 || int(dev) >= NumSlots {
		return nil
	}
	b.mu.RLock()
	f := b.slots[dev]
	b.mu.RUnlock()
	if f == nil {
		return nil
	}
	return f.PCIConfig()
}

// ConfigIO returns the device the board inserts on the port I/O bus at
// 0xCF8 with size 8: configuration mechanism #1.
func (b *Bus) ConfigIO() *ConfigIO { return b.conf }

// ConfigIO is configuration mechanism #1: the address register at 0xCF8
// (32-bit accesses only) and the data window at 0xCFC-0xCFF, where a byte,
// word or dword access at 0xCFC+k reaches register (address & 0xFC) + k.
// A byte at 0xCF9 is the reset control register.
type ConfigIO struct {
	bus   *Bus
	addr  atomic.Uint32
	reset atomic.Uint32 // last value written to 0xCF9
}

// Name implements devices.Named.
func (c *ConfigIO) Name() string { return "pci-conf1" }

// Read implements devices.Device for offsets 0-7 from 0xCF8.
func (c *ConfigIO) Read(offset uint64, data []byte) {
	switch {
	case offset == 0 && len(data) == 4:
		binary.LittleEndian.PutUint32(data, c.addr.Load())
	case offset == 1 && len(data) == 1:
		data[0] = byte(c.reset.Load())
	case offset >= 4 && offset+uint64(len(data)) <= 8:
		bus, dev, fn, reg, ok := c.decode(offset - 4)
		if !ok {
			fill(data, 0xFF)
			return
		}
		c.bus.ReadConfig(bus, dev, fn, reg, data)
	default:
		// Byte and word accesses to 0xCF8-0xCFB other than the reset
		// register go to nothing, as on a PIIX.
		fill(data, 0xFF)
	}
}

// Write implements devices.Device for offsets 0-7 from 0xCF8.
func (c *ConfigIO) Write(offset uint64, data []byte) {
	switch {
	case offset == 0 && len(data) == 4:
		c.addr.Store(binary.LittleEndian.Uint32(data) & conf1Writable)
	case offset == 1 && len(data) == 1:
		v := data[0] & (resetSystem | resetCPU)
		c.reset.Store(uint32(v))
		if v&resetCPU != 0 && c.bus.opts.Reset != nil {
			c.bus.opts.Reset()
		}
	case offset >= 4 && offset+uint64(len(data)) <= 8:
		bus, dev, fn, reg, ok := c.decode(offset - 4)
		if ok {
			c.bus.WriteConfig(bus, dev, fn, reg, data)
		}
	}
}

// decode splits the address register for an access k bytes into the data
// window. ok is false when the enable bit is clear or an extended
// register (AMD ECS bits 27:24) is addressed.
func (c *ConfigIO) decode(k uint64) (bus, dev, fn uint8, reg uint64, ok bool) {
	a := c.addr.Load()
	if a&conf1Enable == 0 || a&conf1ExtRegMask != 0 {
		return 0, 0, 0, 0, false
	}
	return uint8(a >> conf1BusShift), uint8(a>>conf1DeviceShift) & 0x1F, uint8(a>>conf1FuncShift) & 0x7,
		uint64(a&conf1RegMask) + k, true
}
