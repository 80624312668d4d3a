package machine

import (
	"fmt"

	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/vcpu"
)

// x87/SSE state at reset (Intel SDM vol. 1, 8.1.1 and 10.2.3).
const (
	fpuControlWordReset = 0x37f  // all exceptions masked, 64-bit precision, round to nearest
	mxcsrReset          = 0x1f80 // all SSE exceptions masked
)

// setupVCPUs creates the vCPUs. Every vCPU gets its CPUID table (APIC ID =
// vCPU id), the boot MSRs and PC-style LINT pins; the boot CPU (id 0) also
// gets the entry registers. With the in-kernel irqchip the others start in
// KVM_MP_STATE_UNINITIALIZED and wait for Linux's INIT/SIPI.
func (m *Machine) setupVCPUs() error {
	supported, err := m.sys.GetSupportedCPUID()
	if err != nil {
		return err
	}
	deadline, err := m.sys.CheckExtension(kvm.CapTSCDeadlineTimer)
	if err != nil {
		return err
	}
	m.policy = vcpu.CPUIDPolicy{Supported: supported, CPUs: m.cfg.CPUs, Nested: m.cfg.Nested,
		Backend: string(m.backend), TSCDeadline: deadline > 0}
	if err := m.policy.Check(); err != nil {
		return &InputError{Err: err}
	}
	if maxVCPUs, err := m.sys.CheckExtension(kvm.CapMaxVCPUs); err == nil && maxVCPUs > 0 && m.cfg.CPUs > maxVCPUs {
		return inputErrorf("-smp %d: this host's KVM allows at most %d vCPUs", m.cfg.CPUs, maxVCPUs)
	}
	exposesVMX := m.policy.NestedExposed() == "VMX"
	for id := 0; id < m.cfg.CPUs; id++ {
		kv, err := m.vm.CreateVCPU(id)
		if err != nil {
			return err
		}
		v := vcpu.New(kv, vcpu.Config{PIO: m.pio, MMIO: m.mmio, Stats: m.stats, Logger: m.log})
		m.vcpus = append(m.vcpus, v)
		table, err := m.policy.For(id)
		if err != nil {
			return err
		}
		if err := kv.SetCPUID2(table); err != nil {
			return fmt.Errorf("vcpu %d: %w", id, err)
		}
		// After KVM_SET_CPUID2: KVM checks IA32_FEATURE_CONTROL against it.
		if err := vcpu.SetBootMSRs(kv, exposesVMX); err != nil {
			return err
		}
		lapic, err := kv.GetLAPIC()
		if err != nil {
			return fmt.Errorf("vcpu %d: %w", id, err)
		}
		lapic.SetLINTs()
		if err := kv.SetLAPIC(lapic); err != nil {
			return fmt.Errorf("vcpu %d: %w", id, err)
		}
		if err := kv.SetFPU(kvm.FPU{FCW: fpuControlWordReset, MXCSR: mxcsrReset}); err != nil {
			return fmt.Errorf("vcpu %d: %w", id, err)
		}
		if id == 0 {
			if err := setEntryState(kv, &m.loaded.CPU); err != nil {
				return err
			}
		}
	}
	return nil
}

// setEntryState loads the kernel's entry state into the boot vCPU.
func setEntryState(kv *kvm.VCPU, c *boot.CPUState) error {
	s, err := kv.GetSregs()
	if err != nil {
		return fmt.Errorf("vcpu %d: %w", kv.ID(), err)
	}
	s.CS, s.DS, s.ES, s.FS = segment(c.CS), segment(c.DS), segment(c.ES), segment(c.FS)
	s.GS, s.SS, s.TR, s.LDT = segment(c.GS), segment(c.SS), segment(c.TR), segment(c.LDT)
	s.GDT = kvm.DTable{Base: c.GDT.Base, Limit: c.GDT.Limit}
	s.IDT = kvm.DTable{Base: c.IDT.Base, Limit: c.IDT.Limit}
	s.CR0, s.CR3, s.CR4, s.EFER = c.CR0, c.CR3, c.CR4, c.EFER
	if err := kv.SetSregs(s); err != nil {
		return fmt.Errorf("vcpu %d: %w", kv.ID(), err)
	}
	r := kvm.Regs{RIP: c.RIP, RSP: c.RSP, RBP: c.RBP, RSI: c.RSI, RBX: c.RBX, RFLAGS: c.RFLAGS}
	if err := kv.SetRegs(r); err != nil {
		return fmt.Errorf("vcpu %d: %w", kv.ID(), err)
	}
	return nil
}

func segment(s boot.Segment) kvm.Segment {
	return kvm.Segment{
		Base: s.Base, Limit: s.Limit, Selector: s.Selector, Type: s.Type,
		Present: b2u(s.Present), DPL: s.DPL, DB: b2u(s.DB), S: b2u(s.S),
		L: b2u(s.L), G: b2u(s.G), AVL: b2u(s.AVL), Unusable: b2u(s.Unusable),
	}
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
