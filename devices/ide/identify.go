package ide

import "encoding/binary"

// IDENTIFY DEVICE words (ATA8-ACS §7.16, Table 22). Words not listed are 0.
const (
	idGeneralConfig   = 0   // general configuration
	idCylinders       = 1   // default CHS translation: cylinders (obsolete)
	idSpecificConfig  = 2   // specific configuration
	idHeads           = 3   // default heads (obsolete)
	idSectorsPerTrack = 6   // default sectors per track (obsolete)
	idSerial          = 10  // words 10-19: serial number, 20 ASCII characters
	idFirmware        = 23  // words 23-26: firmware revision, 8 characters
	idModel           = 27  // words 27-46: model number, 40 characters
	idMaxMultiple     = 47  // 80h in the high byte, the largest multiple count in the low byte
	idTrusted         = 48  // trusted computing feature set (bit 14: word valid; bit 0 clear: not supported)
	idCapabilities    = 49  // capabilities
	idCapabilities2   = 50  // capabilities (bit 14 shall be one)
	idPIOTiming       = 51  // PIO data transfer cycle timing mode (obsolete)
	idValidity        = 53  // which of words 54-58, 64-70 and 88 are valid
	idCurCylinders    = 54  // current CHS translation: cylinders
	idCurHeads        = 55  // current heads
	idCurSectors      = 56  // current sectors per track
	idCurCapacity     = 57  // words 57-58: current CHS capacity in sectors
	idMultiple        = 59  // bit 8: the low byte is the current multiple count
	idLBA28Capacity   = 60  // words 60-61: user-addressable sectors for LBA28 commands
	idMWDMA           = 63  // multiword DMA modes: none
	idPIOModes        = 64  // advanced PIO modes supported
	idMinMWDMACycle   = 65  // minimum multiword DMA cycle time, ns
	idRecMWDMACycle   = 66  // recommended multiword DMA cycle time, ns
	idMinPIOCycle     = 67  // minimum PIO cycle time without flow control, ns
	idMinPIOCycleIORD = 68  // minimum PIO cycle time with IORDY flow control, ns
	idMajorVersion    = 80  // major version numbers supported
	idCommandSet1     = 82  // command sets supported
	idCommandSet2     = 83  // command sets supported
	idCommandSetExt   = 84  // command sets supported (extension)
	idEnabled1        = 85  // command sets enabled (mirrors word 82)
	idEnabled2        = 86  // command sets enabled (mirrors word 83)
	idEnabledExt      = 87  // command set default (mirrors word 84)
	idUDMA            = 88  // Ultra DMA modes: none
	idHWResetResult   = 93  // hardware reset result (parallel ATA)
	idLBA48Capacity   = 100 // words 100-103: user-addressable sectors for LBA48 commands
	idSectorSize      = 106 // physical/logical sector size
	idAlignment       = 209 // alignment of logical blocks within physical blocks
	idRotationRate    = 217 // nominal media rotation rate: 1 = non-rotating
	idIntegrity       = 255 // checksum (high byte) and signature A5h (low byte)
	identifyWords     = 256
)

// IDENTIFY bits gonest sets.
const (
	genConfigFixed         = 1 << 6                           // ATA-5: fixed device, not removable; bit 15 clear: an ATA device
	specificConfigComplete = 0xC837                           // spin-up not needed, the IDENTIFY response is complete
	maxMultipleTag         = 0x8000                           // the high byte of word 47 is 80h
	validWord              = 1 << 14                          // "shall be one" marker of words 48, 50, 83, 84, 87, 93, 106, 209
	capLBA                 = 1 << 9                           // word 49: LBA supported
	capIORDY               = 1 << 11                          // word 49: IORDY supported
	validCHS               = 1 << 0                           // word 53: words 54-58 are valid
	validPIO               = 1 << 1                           // word 53: words 64-70 are valid
	validUDMA              = 1 << 2                           // word 53: word 88 is valid
	multipleValid          = 1 << 8                           // word 59: the multiple count is valid
	pioModes34             = 0x0003                           // word 64: PIO modes 3 and 4
	pioCycleNS             = 120                              // words 65-68: mode 4 timing
	majorATA4to8           = 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 // word 80: ATA/ATAPI-4 to ATA8-ACS
	cs1PowerManagement     = 1 << 3                           // word 82/85: power management feature set
	cs1WriteCache          = 1 << 5                           // word 82/85: volatile write cache
	cs1ReadLookAhead       = 1 << 6                           // word 82/85: read look-ahead
	cs2LBA48               = 1 << 10                          // word 83/86: 48-bit address feature set
	cs2FlushCache          = 1 << 12                          // word 83/86: FLUSH CACHE
	cs2FlushCacheExt       = 1 << 13                          // word 83/86: FLUSH CACHE EXT
	hwResetDev0            = 1<<0 | 1<<1 | 1<<3               // word 93: device 0 numbered by jumper, passed diagnostics
	hwResetDev0PDIAG       = 1 << 4                           // word 93: device 0 saw device 1's PDIAG-
	hwResetDev1            = 1<<8 | 1<<9                      // word 93: device 1 numbered by jumper
	integritySignature     = 0xA5                             // word 255 low byte
	nonRotating            = 1                                // word 217: a solid-state device (an image file does not spin)
	modelName              = "gonest ATA disk"                // words 27-46
	firmwareRevision       = "1.0"                            // words 23-26
)

// identify fills buf (512 bytes) with the drive's IDENTIFY DEVICE data.
func (d *drive) identify(buf []byte) {
	var w [identifyWords]uint16
	cyl, heads, spt := d.defaultGeometry()
	w[idGeneralConfig] = genConfigFixed
	w[idCylinders] = cyl
	w[idSpecificConfig] = specificConfigComplete
	w[idHeads] = heads
	w[idSectorsPerTrack] = spt
	serial := d.be.Serial()
	putString(w[idSerial:idSerial+10], string(trimNUL(serial[:])))
	putString(w[idFirmware:idFirmware+4], firmwareRevision)
	putString(w[idModel:idModel+20], modelName)
	w[idMaxMultiple] = maxMultipleTag | maxMultiple
	w[idTrusted] = validWord
	w[idCapabilities] = capLBA | capIORDY
	w[idCapabilities2] = validWord
	w[idPIOTiming] = 2 << 8 // PIO mode 2 in the obsolete high byte, as drives report it
	w[idValidity] = validCHS | validPIO | validUDMA
	if c, h, s, ok := d.chsGeometry(); ok {
		capacity := uint32(c) * uint32(h) * uint32(s)
		w[idCurCylinders], w[idCurHeads], w[idCurSectors] = c, h, s
		w[idCurCapacity], w[idCurCapacity+1] = uint16(capacity), uint16(capacity>>16)
	}
	if d.multiple > 0 {
		w[idMultiple] = multipleValid | uint16(d.multiple)
	}
	lba28 := min(d.sectors, maxLBA28)
	w[idLBA28Capacity], w[idLBA28Capacity+1] = uint16(lba28), uint16(lba28>>16)
	w[idPIOModes] = pioModes34
	w[idMinMWDMACycle], w[idRecMWDMACycle] = pioCycleNS, pioCycleNS
	w[idMinPIOCycle], w[idMinPIOCycleIORD] = pioCycleNS, pioCycleNS
	w[idMajorVersion] = majorATA4to8
	w[idCommandSet1] = cs1PowerManagement | cs1WriteCache | cs1ReadLookAhead
	w[idCommandSet2] = validWord | cs2LBA48 | cs2FlushCache | cs2FlushCacheExt
	w[idCommandSetExt] = validWord
	w[idEnabled1] = cs1PowerManagement
	if d.writeCache {
		w[idEnabled1] |= cs1WriteCache
	}
	if d.readAhead {
		w[idEnabled1] |= cs1ReadLookAhead
	}
	w[idEnabled2] = cs2LBA48 | cs2FlushCache | cs2FlushCacheExt
	w[idEnabledExt] = validWord
	w[idHWResetResult] = validWord
	if d.unit == 0 {
		w[idHWResetResult] |= hwResetDev0
		if d.peerPresent {
			w[idHWResetResult] |= hwResetDev0PDIAG
		}
	} else {
		w[idHWResetResult] |= hwResetDev1
	}
	for i := range 4 {
		w[idLBA48Capacity+i] = uint16(d.sectors >> (16 * i))
	}
	w[idSectorSize] = validWord // one logical sector per physical sector, 512 bytes
	w[idAlignment] = validWord
	w[idRotationRate] = nonRotating
	for i, v := range w {
		binary.LittleEndian.PutUint16(buf[2*i:], v)
	}
	// Word 255: the checksum byte makes the 512 bytes sum to 0 mod 256.
	buf[2*idIntegrity] = integritySignature
	var sum byte
	for _, b := range buf[:2*idIntegrity+1] {
		sum += b
	}
	buf[2*idIntegrity+1] = -sum
}

// putString stores s in ATA string order: two characters per word, the
// first in the high byte, padded with spaces.
func putString(words []uint16, s string) {
	for i := range words {
		hi, lo := byte(' '), byte(' ')
		if 2*i < len(s) {
			hi = s[2*i]
		}
		if 2*i+1 < len(s) {
			lo = s[2*i+1]
		}
		words[i] = uint16(hi)<<8 | uint16(lo)
	}
}

func trimNUL(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

// defaultGeometry is the CHS translation IDENTIFY words 1, 3 and 6 report
// and a drive starts with: 16 heads and 63 sectors per track, as every
// BIOS-era drive over 504 MiB reports, with the cylinders capped at 16383
// (ATA8-ACS §7.16.7.3); a disk too small for one such cylinder gets one
// head, or one track.
func (d *drive) defaultGeometry() (cyl, heads, spt uint16) {
	const maxCyl, defHeads, defSPT = 16383, 16, 63
	switch s := d.sectors; {
	case s >= defHeads*defSPT:
		return uint16(min(s/(defHeads*defSPT), maxCyl)), defHeads, defSPT
	case s >= defSPT:
		return uint16(s / defSPT), 1, defSPT
	default:
		return 1, 1, uint16(s)
	}
}
