package kvm

// LAPICState mirrors struct kvm_lapic_state: the local APIC's 4 KiB register
// page, truncated to its first KiB (KVM_APIC_REG_SIZE). Registers are 32-bit
// little-endian values at 16-byte strides.
type LAPICState struct {
	Regs [1024]byte
}

// Local APIC register offsets.
const (
	LAPICRegID    = 0x020 // APIC ID
	LAPICRegSVR   = 0x0f0 // spurious interrupt vector register
	LAPICRegLVT0  = 0x350 // LVT LINT0
	LAPICRegLVT1  = 0x360 // LVT LINT1
	LAPICRegTimer = 0x320 // LVT timer
)

// LVT entry fields.
const (
	LVTVectorMask       = 0xff     // bits 0-7: vector
	LVTDeliveryModeMask = 0x7 << 8 // bits 8-10: delivery mode
	LVTDeliveryFixed    = 0x0 << 8 // fixed: deliver Vector
	LVTDeliveryNMI      = 0x4 << 8 // NMI
	LVTDeliveryExtINT   = 0x7 << 8 // ExtINT: ask the 8259 PIC for the vector
	LVTMasked           = 1 << 16  // bit 16: mask
	SVRAPICEnabled      = 1 << 8   // SVR bit 8: APIC software enable
)

const (
	lapicRegMaxOffset = 1024 - 4   // last offset a 32-bit register can start at
	lapicRegAlignMask = 0xf        // registers are 16-byte aligned
	lapicRegInvalid   = ^uint32(0) // what Reg returns for an invalid offset
	// lvtKeep clears an LVT entry's delivery mode and mask bits.
	lvtKeep = ^uint32(LVTDeliveryModeMask | LVTMasked)
)

// Reg returns the 32-bit register at offset (LAPICReg*). An offset that is
// not a register returns all-ones.
func (l *LAPICState) Reg(offset int) uint32 {
	if offset < 0 || offset > lapicRegMaxOffset || offset&lapicRegAlignMask != 0 {
		return lapicRegInvalid
	}
	return le.Uint32(l.Regs[offset:])
}

// SetReg sets the 32-bit register at offset. It ignores offsets that are
// not registers.
func (l *LAPICState) SetReg(offset int, v uint32) {
	if offset < 0 || offset > lapicRegMaxOffset || offset&lapicRegAlignMask != 0 {
		return
	}
	le.PutUint32(l.Regs[offset:], v)
}

// SetLINTs wires the local interrupt pins the way a PC does: LINT0 to the
// 8259 PIC (ExtINT) and LINT1 to NMI, both unmasked. Linux expects this of
// the BSP when it boots with the PIC in virtual-wire mode.
func (l *LAPICState) SetLINTs() {
	l.SetReg(LAPICRegLVT0, l.Reg(LAPICRegLVT0)&lvtKeep|LVTDeliveryExtINT)
	l.SetReg(LAPICRegLVT1, l.Reg(LAPICRegLVT1)&lvtKeep|LVTDeliveryNMI)
}
