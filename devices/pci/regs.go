package pci

// Offsets of the type 0 configuration header (PCI Local Bus Specification
// 3.0, §6.1). The C names are Linux's include/uapi/linux/pci_regs.h.
const (
	RegVendorID          = 0x00 // PCI_VENDOR_ID, 16 bits
	RegDeviceID          = 0x02 // PCI_DEVICE_ID, 16 bits
	RegCommand           = 0x04 // PCI_COMMAND, 16 bits
	RegStatus            = 0x06 // PCI_STATUS, 16 bits
	RegRevision          = 0x08 // PCI_REVISION_ID
	RegProgIf            = 0x09 // PCI_CLASS_PROG
	RegSubclass          = 0x0A // PCI_CLASS_DEVICE low byte
	RegClass             = 0x0B // PCI_CLASS_DEVICE high byte
	RegCacheLineSize     = 0x0C // PCI_CACHE_LINE_SIZE
	RegLatencyTimer      = 0x0D // PCI_LATENCY_TIMER
	RegHeaderType        = 0x0E // PCI_HEADER_TYPE
	RegBIST              = 0x0F // PCI_BIST
	RegBAR0              = 0x10 // PCI_BASE_ADDRESS_0; BAR n is at 0x10 + 4n
	RegCardbusCIS        = 0x28 // PCI_CARDBUS_CIS
	RegSubsystemVendorID = 0x2C // PCI_SUBSYSTEM_VENDOR_ID
	RegSubsystemID       = 0x2E // PCI_SUBSYSTEM_ID
	RegExpansionROM      = 0x30 // PCI_ROM_ADDRESS
	RegCapabilityList    = 0x34 // PCI_CAPABILITY_LIST
	RegInterruptLine     = 0x3C // PCI_INTERRUPT_LINE
	RegInterruptPin      = 0x3D // PCI_INTERRUPT_PIN
	RegMinGnt            = 0x3E // PCI_MIN_GNT
	RegMaxLat            = 0x3F // PCI_MAX_LAT

	// ConfigSize is the size of conventional configuration space.
	ConfigSize = 256 // PCI_CFG_SPACE_SIZE
	// firstCapability is where capabilities start: right after the header.
	firstCapability = 0x40
	// NumBARs is the number of BAR registers in a type 0 header.
	NumBARs = 6 // PCI_STD_NUM_BARS
)

// COMMAND register bits.
const (
	CommandIO          = 1 << 0  // PCI_COMMAND_IO: respond to I/O space accesses
	CommandMemory      = 1 << 1  // PCI_COMMAND_MEMORY: respond to memory space accesses (decode BARs)
	CommandMaster      = 1 << 2  // PCI_COMMAND_MASTER: may initiate DMA (bus mastering)
	CommandParity      = 1 << 6  // PCI_COMMAND_PARITY: report parity errors
	CommandSERR        = 1 << 8  // PCI_COMMAND_SERR: SERR# enable
	CommandINTxDisable = 1 << 10 // PCI_COMMAND_INTX_DISABLE: do not assert INTx

	// commandWritable are the COMMAND bits the guest may change. IO is
	// added for a function that has an I/O BAR (AddBAR); without one it
	// stays 0, as on hardware with nothing to decode.
	commandWritable = CommandMemory | CommandMaster | CommandParity | CommandSERR | CommandINTxDisable
)

// STATUS register bits.
const (
	StatusInterrupt         = 1 << 3  // PCI_STATUS_INTERRUPT: INTx is asserted (read-only)
	StatusCapList           = 1 << 4  // PCI_STATUS_CAP_LIST: capability list present (read-only)
	StatusMasterParity      = 1 << 8  // PCI_STATUS_PARITY: master data parity error (write 1 to clear)
	StatusSigTargetAbort    = 1 << 11 // PCI_STATUS_SIG_TARGET_ABORT (write 1 to clear)
	StatusRecTargetAbort    = 1 << 12 // PCI_STATUS_REC_TARGET_ABORT (write 1 to clear)
	StatusRecMasterAbort    = 1 << 13 // PCI_STATUS_REC_MASTER_ABORT (write 1 to clear)
	StatusSigSystemError    = 1 << 14 // PCI_STATUS_SIG_SYSTEM_ERROR (write 1 to clear)
	StatusDetectedParityErr = 1 << 15 // PCI_STATUS_DETECTED_PARITY (write 1 to clear)

	statusW1C = StatusMasterParity | StatusSigTargetAbort | StatusRecTargetAbort |
		StatusRecMasterAbort | StatusSigSystemError | StatusDetectedParityErr
)

// Low bits of a BAR (PCI 3.0 §6.2.5.1). They are read-only.
const (
	BARSpaceIO     = 1 << 0 // PCI_BASE_ADDRESS_SPACE_IO: an I/O BAR
	BARMem64       = 2 << 1 // PCI_BASE_ADDRESS_MEM_TYPE_64: the BAR and the next one hold a 64-bit address
	BARPrefetch    = 1 << 3 // PCI_BASE_ADDRESS_MEM_PREFETCH: reads have no side effects
	barFlagsMask   = 0xF    // the read-only low nibble of a memory BAR
	ioBARFlagsMask = 0x3    // the read-only low two bits of an I/O BAR
	minBARSize     = 16     // the smallest memory BAR the specification allows
	maxBAR32Size   = 1 << 31
	minIOBARSize   = 4    // the smallest I/O BAR
	maxIOBARSize   = 256  // the largest I/O BAR (PCI 3.0 §6.2.5.1)
	headerType0    = 0x00 // PCI_HEADER_TYPE_NORMAL, single-function
	capIDVendor    = 0x09 // PCI_CAP_ID_VNDR
	capIDMSIX      = 0x11 // PCI_CAP_ID_MSIX
	classHostPCI   = 0x060000
	classShift     = 8
	interruptPinA  = 1 // INTA#
)

// Configuration mechanism #1 address register at port 0xCF8 (PCI 3.0 §3.2.2.3.2).
const (
	conf1Enable      = 1 << 31    // configuration space mapping enabled
	conf1ExtRegMask  = 0xF << 24  // AMD extended register number bits 11:8 (ECS); gonest has no extended space
	conf1BusShift    = 16         // bits 23:16: bus number
	conf1DeviceShift = 11         // bits 15:11: device number
	conf1FuncShift   = 8          // bits 10:8: function number
	conf1RegMask     = 0xFC       // bits 7:2: dword register number
	conf1Writable    = 0xFFFFFFFC // bits 1:0 always read 0
)

// Reset control register at port 0xCF9 (Intel PIIX/ICH RST_CNT), which
// Linux uses for reboot=pci.
const (
	resetSystem = 1 << 1 // SYS_RST: full reset rather than INIT
	resetCPU    = 1 << 2 // RST_CPU: start the reset
)

// Identity of the host bridge at 00:00.0. 8086:0D57 is the id that
// Firecracker, Cloud Hypervisor and QEMU's pci-virt use for a synthetic host
// bridge: no Linux driver or quirk matches it. The tempting Q35 id 8086:29C0
// is matched by intel-agp (PCI_DEVICE_ID_INTEL_G33_HB), which would go
// looking for an integrated GPU that does not exist.
const (
	hostBridgeVendor = 0x8086
	hostBridgeDevice = 0x0D57
)
