package machine

import (
	"fmt"
	"sync"

	"github.com/gonest/gonest/acpi"
	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/devices"
	"github.com/gonest/gonest/devices/pci"
	"github.com/gonest/gonest/devices/virtio"
	"github.com/gonest/gonest/kvm"
)

// firstMSIGSI is the first GSI handed to MSI routes: 0-23 are the IOAPIC's
// pins (and 0-15 the PICs'), which KVM's default routing already uses.
const firstMSIGSI = boot.IOAPICPins

// setupPCI creates PCI bus 0 behind the host bridge, its configuration
// ports, and the interrupt plumbing virtio devices use.
func (m *Machine) setupPCI() error {
	bus, err := pci.NewBus(pci.Options{
		MMIO:      m.mmio,
		Windows:   []pci.Window{{Base: boot.PCIMMIO32Start, Size: boot.PCIMMIO32Size}},
		IO:        m.pio,
		IOWindows: []pci.Window{{Base: boot.PCIIOStart, Size: boot.PCIIOSize}},
		Reset:     func() { m.Stop(Outcome{Reason: ReasonReset, Code: ExitOK}) },
		Logger:    m.log,
	})
	if err != nil {
		return err
	}
	m.pci = bus
	m.routes = &gsiRoutes{vm: m.vm, next: firstMSIGSI, msi: map[uint32]kvm.IRQRoutingEntry{}}
	m.intx = &sharedLines{m: m, sources: map[uint32]map[int]bool{}}
	return m.pio.Insert(bus.ConfigIO(), boot.PCIConfigPort, boot.PCIConfigPortSize)
}

// intxGSI is the IOAPIC pin a slot's INTA# reaches, as the DSDT's _PRT says.
func intxGSI(slot int) uint32 {
	for _, r := range acpi.SwizzledRoutes(boot.PCIIntxGSIA, boot.PCIIntxGSIB) {
		if int(r.Slot) == slot && r.Pin == 0 {
			return r.GSI
		}
	}
	return boot.PCIIntxGSIA
}

// gsiRoutes owns the VM's GSI routing table: KVM's default irqchip routes
// plus one MSI route per live MSI-X vector. KVM_SET_GSI_ROUTING replaces
// the whole table, so every change rewrites it.
type gsiRoutes struct {
	vm   *kvm.VM
	mu   sync.Mutex
	next uint32
	msi  map[uint32]kvm.IRQRoutingEntry
}

func (g *gsiRoutes) allocate() uint32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	gsi := g.next
	g.next++
	return gsi
}

// set installs (or, with enabled false, removes) the MSI route of gsi.
func (g *gsiRoutes) set(gsi uint32, msg pci.Message, enabled bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if enabled {
		g.msi[gsi] = kvm.NewMSIRoute(gsi, msg.Addr, msg.Data)
	} else {
		delete(g.msi, gsi)
	}
	table := kvm.DefaultIRQChipRoutes()
	for _, e := range g.msi {
		table = append(table, e)
	}
	return g.vm.SetGSIRouting(table)
}

// msiRouter delivers one PCI function's MSI-X vectors: each vector has its
// own GSI, MSI route and irqfd, so firing a vector is one eventfd write that
// KVM turns into an interrupt without gonest's vCPU threads noticing.
type msiRouter struct {
	m       *Machine
	mu      sync.Mutex
	vectors map[int]*msiVector
}

type msiVector struct {
	gsi uint32
	efd *virtio.EventFD
}

var _ pci.MSIRouter = (*msiRouter)(nil)

// Route implements pci.MSIRouter.
func (r *msiRouter) Route(vector int, msg pci.Message, enabled bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.vectors[vector]
	if !ok {
		if !enabled {
			return nil
		}
		efd, err := virtio.NewEventFD()
		if err != nil {
			return fmt.Errorf("msi-x vector %d: %w", vector, err)
		}
		v = &msiVector{gsi: r.m.routes.allocate(), efd: efd}
		if err := r.m.routes.set(v.gsi, msg, true); err != nil {
			efd.Close()
			return fmt.Errorf("msi-x vector %d: %w", vector, err)
		}
		if err := r.m.vm.IRQFD(kvm.IRQFD{FD: uint32(efd.FD()), GSI: v.gsi}); err != nil {
			efd.Close()
			return fmt.Errorf("msi-x vector %d: %w", vector, err)
		}
		r.vectors[vector] = v
		return nil
	}
	return r.m.routes.set(v.gsi, msg, enabled)
}

// Fire implements pci.MSIRouter.
func (r *msiRouter) Fire(vector int) error {
	r.mu.Lock()
	v, ok := r.vectors[vector]
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("msi-x vector %d fired without a route", vector)
	}
	return v.efd.Signal()
}

// Close deassigns the irqfds and closes the eventfds.
func (r *msiRouter) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var first error
	for _, v := range r.vectors {
		if err := r.m.vm.IRQFD(kvm.IRQFD{FD: uint32(v.efd.FD()), GSI: v.gsi, Flags: kvm.IRQFDFlagDeassign}); err != nil && first == nil {
			first = err
		}
		if err := v.efd.Close(); err != nil && first == nil {
			first = err
		}
	}
	r.vectors = nil
	return first
}

// ioeventNotifier registers virtio notify addresses as KVM ioeventfds.
type ioeventNotifier struct{ vm *kvm.VM }

// ioevent is one registered notify address.
type ioevent struct {
	*virtio.EventFD
	vm   *kvm.VM
	reg  kvm.IOEventFD
	once sync.Once
}

// Register implements virtio.Notifier.
func (n ioeventNotifier) Register(addr uint64, length int) (virtio.Event, error) {
	efd, err := virtio.NewEventFD()
	if err != nil {
		return nil, err
	}
	reg := kvm.IOEventFD{Addr: addr, Len: uint32(length), FD: int32(efd.FD())}
	if err := n.vm.IOEventFD(reg); err != nil {
		efd.Close()
		return nil, fmt.Errorf("notify address %#x: %w", addr, err)
	}
	return &ioevent{EventFD: efd, vm: n.vm, reg: reg}, nil
}

// Close deassigns the ioeventfd, then closes the eventfd (which wakes a
// blocked Wait).
func (e *ioevent) Close() error {
	var err error
	e.once.Do(func() {
		r := e.reg
		r.Flags |= kvm.IOEventFDFlagDeassign
		err = e.vm.IOEventFD(r)
		if cerr := e.EventFD.Close(); err == nil {
			err = cerr
		}
	})
	return err
}

// sharedLines lets several PCI functions share a level-triggered INTx pin:
// the pin is high while any of its sources is.
type sharedLines struct {
	m       *Machine
	mu      sync.Mutex
	sources map[uint32]map[int]bool
}

// line returns source id's connection to gsi.
func (s *sharedLines) line(gsi uint32, id int) devices.InterruptLine {
	return devices.InterruptFunc(func(high bool) {
		s.mu.Lock()
		srcs := s.sources[gsi]
		if srcs == nil {
			srcs = map[int]bool{}
			s.sources[gsi] = srcs
		}
		was := len(srcs) > 0
		if high {
			srcs[id] = true
		} else {
			delete(srcs, id)
		}
		now := len(srcs) > 0
		s.mu.Unlock()
		if was != now {
			(&irqLine{m: s.m, gsi: gsi}).SetLevel(now)
		}
	})
}
