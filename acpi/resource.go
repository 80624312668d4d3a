package acpi

import "encoding/binary"

// Resource descriptors (ACPI 6.5, section 6.4): what goes inside an ASL
// ResourceTemplate(), a _CRS buffer.
const (
	tagIRQNoFlags = 0x22 // small IRQ descriptor, length 2: IRQNoFlags()
	tagIO         = 0x47 // small I/O port descriptor, length 7: IO()
	tagEnd        = 0x79 // small end tag, length 1: checksum follows
	tagDWordAddr  = 0x87 // large DWord address space descriptor
	tagWordAddr   = 0x88 // large Word address space descriptor
	tagQWordAddr  = 0x8A // large QWord address space descriptor
	ioDecode16    = 0x01 // IO information: decodes 16 address bits
	wordAddrLen   = 0x0D // length of a Word address space descriptor after its 3-byte header
	dwordAddrLen  = 0x17 // length of a DWord address space descriptor
	qwordAddrLen  = 0x2B // length of a QWord address space descriptor
	resTypeMemory = 0    // address space resource type: memory range
	resTypeIO     = 1    // address space resource type: I/O range
	resTypeBus    = 2    // address space resource type: bus number range
	genConsumer   = 1 << 0
	genSubDecode  = 1 << 1                    // _DEC: 1 subtractive, 0 positive decode
	genMinFixed   = 1 << 2                    // _MIF: the minimum address is fixed
	genMaxFixed   = 1 << 3                    // _MAF: the maximum address is fixed
	memReadWrite  = 1 << 0                    // memory type flag _RW: read/write
	memCacheable  = 1 << 1                    // memory type flag _MEM = 1: cacheable (0: non-cacheable)
	ioEntireRange = 3                         // I/O type flags _RNG = 3: ISA and non-ISA ranges
	producerFixed = genMinFixed | genMaxFixed // ResourceProducer, MinFixed, MaxFixed, PosDecode
)

// ioPort encodes IO(Decode16, min, max, align, length).
func ioPort(min, max uint16, align, length uint8) []byte {
	b := []byte{tagIO, ioDecode16}
	b = binary.LittleEndian.AppendUint16(b, min)
	b = binary.LittleEndian.AppendUint16(b, max)
	return append(b, align, length)
}

// irqNoFlags encodes IRQNoFlags(){irq}: an ISA IRQ (0-15), edge triggered,
// active high, exclusive.
func irqNoFlags(irq uint8) []byte {
	return binary.LittleEndian.AppendUint16([]byte{tagIRQNoFlags}, 1<<(irq&0xF))
}

// wordAddr encodes a Word address space descriptor: WordBusNumber or WordIO.
func wordAddr(resType, general, typeFlags uint8, gran, min, max, tra, length uint16) []byte {
	b := []byte{tagWordAddr, wordAddrLen, 0, resType, general, typeFlags}
	for _, v := range []uint16{gran, min, max, tra, length} {
		b = binary.LittleEndian.AppendUint16(b, v)
	}
	return b
}

// wordBusNumber encodes WordBusNumber(ResourceProducer, MinFixed, MaxFixed,
// PosDecode, 0, first, last, 0, last-first+1).
func wordBusNumber(first, last uint8) []byte {
	return wordAddr(resTypeBus, producerFixed, 0, 0, uint16(first), uint16(last), 0, uint16(last)-uint16(first)+1)
}

// wordIO encodes WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode,
// EntireRange, 0, base, base+size-1, 0, size): a bridge's I/O window.
func wordIO(base uint16, size uint32) []byte {
	return wordAddr(resTypeIO, producerFixed, ioEntireRange, 0, base, uint16(uint32(base)+size-1), 0, uint16(size))
}

// dwordMemory encodes DWordMemory(ResourceProducer, PosDecode, MinFixed,
// MaxFixed, NonCacheable, ReadWrite, 0, base, base+size-1, 0, size).
func dwordMemory(base, size uint32) []byte {
	b := []byte{tagDWordAddr, dwordAddrLen, 0, resTypeMemory, producerFixed, memReadWrite}
	for _, v := range []uint32{0, base, base + size - 1, 0, size} {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

// qwordMemory encodes QWordMemory(ResourceProducer, PosDecode, MinFixed,
// MaxFixed, NonCacheable, ReadWrite, 0, base, base+size-1, 0, size).
func qwordMemory(base, size uint64) []byte {
	b := []byte{tagQWordAddr, qwordAddrLen, 0, resTypeMemory, producerFixed, memReadWrite}
	for _, v := range []uint64{0, base, base + size - 1, 0, size} {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return b
}

// resourceTemplate encodes ResourceTemplate(){descriptors} as a Buffer:
// the descriptors, then an end tag whose checksum makes all the bytes sum
// to zero. (iasl writes 0 there, which means "no checksum"; both are valid.)
func (e *amlEncoder) resourceTemplate(descriptors ...[]byte) []byte {
	var data []byte
	for _, d := range descriptors {
		data = append(data, d...)
	}
	data = append(data, tagEnd)
	return e.buffer(append(data, checksum(data)))
}
