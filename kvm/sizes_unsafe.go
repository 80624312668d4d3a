package kvm

import "unsafe"

// Sizes of the mirrored structs, used to compute request numbers. They are
// compile-time constants; ioctl_test.go checks them against the kernel's.
const (
	sizeofRegs              = unsafe.Sizeof(Regs{})
	sizeofSregs             = unsafe.Sizeof(Sregs{})
	sizeofSegment           = unsafe.Sizeof(Segment{})
	sizeofDTable            = unsafe.Sizeof(DTable{})
	sizeofFPU               = unsafe.Sizeof(FPU{})
	sizeofMSREntry          = unsafe.Sizeof(MSREntry{})
	sizeofMSRs              = unsafe.Sizeof(msrsHeader{})
	sizeofMSRList           = unsafe.Sizeof(msrListHeader{})
	sizeofCPUIDEntry2       = unsafe.Sizeof(CPUIDEntry2{})
	sizeofCPUID2            = unsafe.Sizeof(cpuid2Header{})
	sizeofUserMemoryRegion  = unsafe.Sizeof(UserspaceMemoryRegion{})
	sizeofPITConfig         = unsafe.Sizeof(PITConfig{})
	sizeofIRQLevel          = unsafe.Sizeof(IRQLevel{})
	sizeofIRQRoutingEntry   = unsafe.Sizeof(IRQRoutingEntry{})
	sizeofIRQRouting        = unsafe.Sizeof(irqRoutingHeader{})
	sizeofMSI               = unsafe.Sizeof(MSI{})
	sizeofIRQFD             = unsafe.Sizeof(IRQFD{})
	sizeofIOEventFD         = unsafe.Sizeof(IOEventFD{})
	sizeofClockData         = unsafe.Sizeof(ClockData{})
	sizeofEnableCap         = unsafe.Sizeof(EnableCap{})
	sizeofLAPICState        = unsafe.Sizeof(LAPICState{})
	sizeofMPState           = unsafe.Sizeof(MPState{})
	sizeofSignalMask        = unsafe.Sizeof(signalMaskHeader{})
	sizeofVCPUEvents        = unsafe.Sizeof(VCPUEvents{})
	sizeofNestedStateHeader = unsafe.Sizeof(nestedStateHeader{})
	sizeofVMXNestedHeader   = unsafe.Sizeof(VMXNestedHeader{})
	sizeofSVMNestedHeader   = unsafe.Sizeof(SVMNestedHeader{})
	sizeofStatsHeader       = unsafe.Sizeof(statsHeader{})
	sizeofStatsDesc         = unsafe.Sizeof(statsDescHeader{})
	sizeofRunLayout         = unsafe.Sizeof(runLayout{})
)
