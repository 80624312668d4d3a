package ide

// Command block registers, as offsets from a channel's command block base
// (ATA/ATAPI-6 §7.1; PCI IDE Controller Specification 1.0 §2: BAR 0 or 2
// in native mode, 0x1F0 or 0x170 in compatibility mode). Several offsets
// hold two registers: which one an access reaches depends on its direction.
const (
	regData    = 0 // data: 16-bit PIO words; the PIIX also takes 32-bit accesses as two words
	regError   = 1 // error (read)
	regFeature = 1 // features (write)
	regCount   = 2 // sector count
	regLBALow  = 3 // LBA bits 7:0 (LBA48: 31:24 in the previous value); CHS sector number
	regLBAMid  = 4 // LBA bits 15:8 (LBA48: 39:32); CHS cylinder low
	regLBAHigh = 5 // LBA bits 23:16 (LBA48: 47:40); CHS cylinder high
	regDevice  = 6 // device: LBA mode, DEV, LBA bits 27:24 or CHS head
	regStatus  = 7 // status (read; clears a pending interrupt)
	regCommand = 7 // command (write; starts it)

	// CommandBlockSize is the size of the command block (BAR 0 and 2).
	CommandBlockSize = 8
)

// Control block registers, as offsets from a channel's control block base
// (PCI IDE Controller Specification 1.0 §2: BAR 1 or 3 is 4 bytes and the
// register is at offset 2, which in compatibility mode is 0x3F6 or 0x376).
const (
	regAltStatus    = 2 // alternate status (read; leaves a pending interrupt alone)
	regDevControl   = 2 // device control (write)
	regDriveAddress = 3 // drive address (ATA-3, obsolete since ATA-4): reads 0xFF

	// ControlBlockSize is the size of the control block (BAR 1 and 3).
	ControlBlockSize = 4
)

// Status register bits (ATA8-ACS §6.2 and ATA/ATAPI-6 §7.15).
const (
	statusERR  = 1 << 0 // error: the error register says what went wrong
	statusIDX  = 1 << 1 // index (obsolete); never set
	statusCORR = 1 << 2 // corrected data (obsolete); never set
	statusDRQ  = 1 << 3 // data request: the device is ready for a data word
	statusDSC  = 1 << 4 // device seek complete (obsolete in ACS; drives still set it when ready)
	statusDF   = 1 << 5 // device fault; never set
	statusDRDY = 1 << 6 // device ready: the device accepts commands
	statusBSY  = 1 << 7 // busy: the device owns the registers (here: only during SRST)

	// statusReady is an idle drive that has completed its last command.
	statusReady = statusDRDY | statusDSC
	// statusFailed is a command that ended in error (what QEMU's IDE
	// reports too: DRDY and ERR).
	statusFailed = statusDRDY | statusERR
)

// Error register bits after a failed command (ATA8-ACS §6.3). After a
// reset or EXECUTE DEVICE DIAGNOSTIC the register holds a diagnostic code
// instead (diagPassed).
const (
	errAMNF = 1 << 0 // address mark not found (obsolete); never set
	errNM   = 1 << 1 // no media (removable media only); never set
	errABRT = 1 << 2 // aborted: the command is not supported or its parameters are invalid
	errMCR  = 1 << 3 // media change request (removable media only); never set
	errIDNF = 1 << 4 // ID not found: the address is outside the user-accessible range
	errMC   = 1 << 5 // media changed (removable media only); never set
	errUNC  = 1 << 6 // uncorrectable data error: the host could not read the image
	errICRC = 1 << 7 // interface CRC error (Ultra DMA only); never set

	// diagPassed is the diagnostic code of a device that passed (ATA8-ACS
	// Table 31: 01h, device 0 passed and device 1 passed or not present).
	diagPassed = 0x01
)

// Device register bits (ATA8-ACS §6.4).
const (
	deviceHeadMask = 0x0F   // LBA28 address bits 27:24, or the CHS head number
	deviceDEV      = 1 << 4 // selects device 1 (slave); clear selects device 0 (master)
	deviceLBA      = 1 << 6 // the address is an LBA, not a CHS triple
	// deviceObsolete are bits 7 and 5, which ATA-1 to ATA-3 required to be
	// one; Linux still writes them (ATA_DEVICE_OBS). They are stored and
	// otherwise ignored.
	deviceObsolete = 1<<7 | 1<<5
)

// Device control register bits (ATA8-ACS §6.1).
const (
	devctlNIEN = 1 << 1 // interrupt disable: the selected device releases INTRQ
	devctlSRST = 1 << 2 // software reset of both devices, held while the bit is one
	devctlHOB  = 1 << 7 // high order byte: register reads return the previous (LBA48 upper) values
)

// Command codes (ATA8-ACS §7 and Table B.2). Anything else is aborted.
const (
	cmdNOP                  = 0x00 // NOP: always aborts (subcommand 0)
	cmdDeviceReset          = 0x08 // DEVICE RESET: PACKET devices only, so aborted here
	cmdReadSectors          = 0x20 // READ SECTORS (LBA28/CHS), PIO data-in
	cmdReadSectorsNoRetry   = 0x21 // READ SECTORS without retry (obsolete): as 0x20
	cmdReadSectorsExt       = 0x24 // READ SECTORS EXT (LBA48)
	cmdReadMultipleExt      = 0x29 // READ MULTIPLE EXT (LBA48)
	cmdWriteSectors         = 0x30 // WRITE SECTORS (LBA28/CHS), PIO data-out
	cmdWriteSectorsNoRetry  = 0x31 // WRITE SECTORS without retry (obsolete): as 0x30
	cmdWriteSectorsExt      = 0x34 // WRITE SECTORS EXT (LBA48)
	cmdWriteMultipleExt     = 0x39 // WRITE MULTIPLE EXT (LBA48)
	cmdReadVerifySectors    = 0x40 // READ VERIFY SECTORS: checks the range, transfers nothing
	cmdReadVerifyNoRetry    = 0x41 // READ VERIFY SECTORS without retry (obsolete): as 0x40
	cmdReadVerifySectorsExt = 0x42 // READ VERIFY SECTORS EXT
	cmdExecDiagnostic       = 0x90 // EXECUTE DEVICE DIAGNOSTIC: both devices, signatures and codes
	cmdInitDeviceParams     = 0x91 // INITIALIZE DEVICE PARAMETERS: the CHS translation (heads, sectors per track)
	cmdIdentifyPacket       = 0xA1 // IDENTIFY PACKET DEVICE: aborted by an ATA device, which is how hosts tell
	cmdReadMultiple         = 0xC4 // READ MULTIPLE (LBA28/CHS): a DRQ block of the multiple count
	cmdWriteMultiple        = 0xC5 // WRITE MULTIPLE (LBA28/CHS)
	cmdSetMultipleMode      = 0xC6 // SET MULTIPLE MODE: sectors per DRQ block for READ/WRITE MULTIPLE
	cmdStandbyImmediate     = 0xE0 // STANDBY IMMEDIATE (Linux sends it at poweroff)
	cmdIdleImmediate        = 0xE1 // IDLE IMMEDIATE
	cmdStandby              = 0xE2 // STANDBY (with a timer, ignored)
	cmdIdle                 = 0xE3 // IDLE (with a timer, ignored)
	cmdCheckPowerMode       = 0xE5 // CHECK POWER MODE: the power state in the count register
	cmdSleep                = 0xE6 // SLEEP: treated as standby; the next command wakes the drive
	cmdFlushCache           = 0xE7 // FLUSH CACHE: fdatasync of the image
	cmdFlushCacheExt        = 0xEA // FLUSH CACHE EXT: the same
	cmdIdentifyDevice       = 0xEC // IDENTIFY DEVICE: 512 bytes of PIO data-in
	cmdSetFeatures          = 0xEF // SET FEATURES: subcommand in the features register
)

// SET FEATURES subcommands (ATA8-ACS §7.48, Table 48).
const (
	featEnableWriteCache   = 0x02 // enable the volatile write cache
	featSetTransferMode    = 0x03 // set the transfer mode from the count register
	featDisableReadAhead   = 0x55 // disable read look-ahead
	featDisableRevert      = 0x66 // keep the current settings across a software reset
	featDisableWriteCache  = 0x82 // disable the write cache: every write is synced before it completes
	featEnableReadAhead    = 0xAA // enable read look-ahead
	featEnableRevert       = 0xCC // revert to the power-on settings on a software reset
	xferModePIODefault     = 0x00 // transfer mode: PIO default mode
	xferModePIODefaultNoRD = 0x01 // transfer mode: PIO default mode, IORDY disabled
	xferModePIOFlowControl = 0x08 // transfer mode: PIO flow control mode (low 3 bits: mode 0-4)
	xferModeMaskType       = 0xF8 // transfer mode: the type bits (DMA types are 0x10, 0x20, 0x40)
	maxPIOMode             = 4    // the fastest PIO mode IDENTIFY advertises
)

// CHECK POWER MODE results in the count register (ATA8-ACS §7.8).
const (
	powerStandby = 0x00 // standby (after STANDBY, STANDBY IMMEDIATE or SLEEP)
	powerIdle    = 0x80 // idle (after IDLE or IDLE IMMEDIATE)
	powerActive  = 0xFF // active or idle
)

// Drive limits.
const (
	// SectorSize is the ATA logical sector.
	SectorSize = 512
	// maxMultiple is the most sectors per DRQ block SET MULTIPLE MODE
	// accepts (IDENTIFY word 47), and the multiple count a drive starts
	// with: Linux uses READ/WRITE MULTIPLE when word 59 reports one,
	// which takes one interrupt per 16 sectors instead of one per sector.
	maxMultiple = 16
	// maxLBA28 is the largest LBA28 sector count: 2^28-1 (IDENTIFY words
	// 60-61 saturate here; larger disks need LBA48).
	maxLBA28 = 1<<28 - 1
	// maxLBA48 is one past the last address LBA48 can name.
	maxLBA48 = 1 << 48
)

// PIIX3 IDE function (82371SB datasheet §2.3, function 1): identity and the
// device-specific timing registers Linux's ata_piix reads and writes.
const (
	vendorIntel = 0x8086
	devicePIIX3 = 0x7010 // 82371SB PIIX3 IDE; ata_piix's piix_pata_mwdma entry
	// classIDE is mass storage (01h), IDE (01h), with programming
	// interface 05h: both channels in native PCI mode, fixed, no bus
	// master (PCI IDE Controller Specification 1.0 §2.1). doc.go says
	// why not compatibility mode.
	classIDE = 0x01_01_05

	regIDETIMPrimary   = 0x40 // IDETIM, primary channel: 16 bits
	regIDETIMSecondary = 0x42 // IDETIM, secondary channel: 16 bits
	regSIDETIM         = 0x44 // SIDETIM: slave timings of both channels, 8 bits
	piixRegsEnd        = 0x45 // one past the last timing register

	idetimDecodeEnable = 1 << 15 // IDE: the channel decodes its ports (Linux's piix_enable_bits test it)
	idetimSITRE        = 1 << 14 // slave timing register enable
	idetimISPMask      = 3 << 12 // IORDY sample point
	idetimRTCMask      = 3 << 8  // recovery time
	idetimDTE1         = 1 << 7  // DMA timing enable only, device 1
	idetimPPE1         = 1 << 6  // prefetch and posting enable, device 1
	idetimIE1          = 1 << 5  // IORDY sample point enable, device 1
	idetimTIME1        = 1 << 4  // fast timing bank, device 1
	idetimDTE0         = 1 << 3  // DMA timing enable only, device 0
	idetimPPE0         = 1 << 2  // prefetch and posting enable, device 0
	idetimIE0          = 1 << 1  // IORDY sample point enable, device 0
	idetimTIME0        = 1 << 0  // fast timing bank, device 0
)

// Channel layout of the controller.
const (
	// NumChannels is primary and secondary.
	NumChannels = 2
	// DrivesPerChannel is device 0 (master) and device 1 (slave).
	DrivesPerChannel = 2
	// MaxDrives is how many disks the controller takes.
	MaxDrives = NumChannels * DrivesPerChannel
)
