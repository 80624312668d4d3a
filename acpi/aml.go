package acpi

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// AML opcodes and prefixes (ACPI 6.5, chapter 20).
const (
	opZero        = 0x00 // ZeroOp
	opOne         = 0x01 // OneOp
	opName        = 0x08 // NameOp
	opBytePrefix  = 0x0A // BytePrefix
	opWordPrefix  = 0x0B // WordPrefix
	opDWordPrefix = 0x0C // DWordPrefix
	opString      = 0x0D // StringPrefix
	opQWordPrefix = 0x0E // QWordPrefix
	opScope       = 0x10 // ScopeOp
	opBuffer      = 0x11 // BufferOp
	opPackage     = 0x12 // PackageOp
	opDualName    = 0x2E // DualNamePrefix: two NameSegs follow
	opMultiName   = 0x2F // MultiNamePrefix: a count and NameSegs follow
	opRootChar    = 0x5C // RootChar '\'
	opExtPrefix   = 0x5B // ExtOpPrefix
	opDevice      = 0x82 // DeviceOp, after ExtOpPrefix
	opParentChar  = 0x5E // ParentPrefixChar '^'
	opOnes        = 0xFF // OnesOp: all bits set
)

// maxPkgLength is the largest length a PkgLength can encode (28 bits).
const maxPkgLength = 1<<28 - 1

// amlEncoder builds AML byte strings. The first error sticks: later calls
// return nil, and err says what went wrong, so a whole table can be written
// as nested calls and checked once.
type amlEncoder struct {
	err error
}

func (e *amlEncoder) fail(format string, args ...any) []byte {
	if e.err == nil {
		e.err = fmt.Errorf(format, args...)
	}
	return nil
}

// pkgLength encodes the PkgLength of a package whose contents (after the
// PkgLength) are n bytes. The encoded length counts the PkgLength bytes
// themselves. One byte holds up to 63 in bits 5:0; longer lengths put the
// count of following bytes in bits 7:6, the low nibble in bits 3:0 and the
// rest, 8 bits at a time, in the following bytes.
func pkgLength(n int) ([]byte, error) {
	if n < 0 {
		return nil, fmt.Errorf("AML package length %d is negative", n)
	}
	if n+1 <= 0x3F {
		return []byte{byte(n + 1)}, nil
	}
	for extra := 1; extra <= 3; extra++ {
		total := n + 1 + extra
		if total >= 1<<(4+8*extra) {
			continue
		}
		b := []byte{byte(extra<<6) | byte(total&0xF)}
		for i := range extra {
			b = append(b, byte(total>>(4+8*i)))
		}
		return b, nil
	}
	return nil, fmt.Errorf("AML package of %d bytes exceeds the %d-byte PkgLength limit", n, maxPkgLength)
}

// pkg wraps contents with a PkgLength.
func (e *amlEncoder) pkg(contents []byte) []byte {
	l, err := pkgLength(len(contents))
	if err != nil {
		return e.fail("%w", err)
	}
	return append(l, contents...)
}

// nameSeg checks one NameSeg of up to 4 characters and pads it with '_'.
func nameSeg(s string) ([]byte, error) {
	if len(s) == 0 || len(s) > 4 {
		return nil, fmt.Errorf("AML name segment %q must have 1 to 4 characters", s)
	}
	for i, c := range []byte(s) {
		ok := c == '_' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9'
		if !ok {
			return nil, fmt.Errorf("AML name segment %q: character %q not allowed (A-Z, _, and 0-9 after the first)", s, c)
		}
	}
	return []byte(s + strings.Repeat("_", 4-len(s))), nil
}

// nameString encodes a name path: an optional '\' (root) or '^'s (parent),
// then dot-separated segments, as NameSeg, DualNamePath or MultiNamePath.
func (e *amlEncoder) nameString(path string) []byte {
	var b []byte
	rest := path
	if strings.HasPrefix(rest, `\`) {
		b = append(b, opRootChar)
		rest = rest[1:]
	} else {
		for strings.HasPrefix(rest, "^") {
			b = append(b, opParentChar)
			rest = rest[1:]
		}
	}
	if rest == "" {
		return append(b, opZero) // NullName
	}
	segs := strings.Split(rest, ".")
	if len(segs) > 255 {
		return e.fail("AML name %q has more than 255 segments", path)
	}
	switch len(segs) {
	case 1:
	case 2:
		b = append(b, opDualName)
	default:
		b = append(b, opMultiName, byte(len(segs)))
	}
	for _, s := range segs {
		seg, err := nameSeg(s)
		if err != nil {
			return e.fail("AML name %q: %w", path, err)
		}
		b = append(b, seg...)
	}
	return b
}

// integer encodes v in the shortest form: ZeroOp, OneOp, OnesOp or a
// Byte/Word/DWord/QWord prefix.
func integer(v uint64) []byte {
	switch {
	case v == 0:
		return []byte{opZero}
	case v == 1:
		return []byte{opOne}
	case v == ^uint64(0):
		return []byte{opOnes}
	case v <= 0xFF:
		return []byte{opBytePrefix, byte(v)}
	case v <= 0xFFFF:
		return binary.LittleEndian.AppendUint16([]byte{opWordPrefix}, uint16(v))
	case v <= 0xFFFF_FFFF:
		return dword(uint32(v))
	}
	return binary.LittleEndian.AppendUint64([]byte{opQWordPrefix}, v)
}

// dword encodes v with DWordPrefix whatever its value, as iasl does for an
// EISAID.
func dword(v uint32) []byte {
	return binary.LittleEndian.AppendUint32([]byte{opDWordPrefix}, v)
}

// str encodes an ASCII string constant.
func (e *amlEncoder) str(s string) []byte {
	for _, c := range []byte(s) {
		if c == 0 || c > 0x7F {
			return e.fail("AML string %q: only ASCII without NUL is allowed", s)
		}
	}
	return append(append([]byte{opString}, s...), 0)
}

// name encodes Name(path, object).
func (e *amlEncoder) name(path string, object []byte) []byte {
	return append(append([]byte{opName}, e.nameString(path)...), object...)
}

// pack encodes Package(){elements}.
func (e *amlEncoder) pack(elements ...[]byte) []byte {
	if len(elements) > 255 {
		return e.fail("AML package of %d elements exceeds 255", len(elements))
	}
	body := []byte{byte(len(elements))}
	for _, el := range elements {
		body = append(body, el...)
	}
	return append([]byte{opPackage}, e.pkg(body)...)
}

// buffer encodes Buffer(){data}.
func (e *amlEncoder) buffer(data []byte) []byte {
	body := append(integer(uint64(len(data))), data...)
	return append([]byte{opBuffer}, e.pkg(body)...)
}

// device encodes Device(path){terms}.
func (e *amlEncoder) device(path string, terms ...[]byte) []byte {
	body := e.nameString(path)
	for _, t := range terms {
		body = append(body, t...)
	}
	return append([]byte{opExtPrefix, opDevice}, e.pkg(body)...)
}

// scope encodes Scope(path){terms}.
func (e *amlEncoder) scope(path string, terms ...[]byte) []byte {
	body := e.nameString(path)
	for _, t := range terms {
		body = append(body, t...)
	}
	return append([]byte{opScope}, e.pkg(body)...)
}

// EISAID compresses a PNP ID such as "PNP0A03" the way ASL's EisaId() does:
// three letters of 5 bits each (letter - 0x40) and four hex digits, stored
// big-endian, read back as a little-endian 32-bit integer (PNP0A03 is
// 0x030AD041).
func EISAID(id string) (uint32, error) {
	if len(id) != 7 {
		return 0, fmt.Errorf("EISA ID %q must be 3 letters and 4 hex digits", id)
	}
	var v uint32
	for _, c := range []byte(id[:3]) {
		if c < 'A' || c > 'Z' {
			return 0, fmt.Errorf("EISA ID %q: %q is not an uppercase letter", id, c)
		}
		v = v<<5 | uint32(c-0x40)
	}
	for _, c := range []byte(id[3:]) {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, fmt.Errorf("EISA ID %q: %q is not an uppercase hex digit", id, c)
		}
		v = v<<4 | uint32(d)
	}
	// v is the big-endian form; the AML integer is its byte swap.
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return binary.LittleEndian.Uint32(b[:]), nil
}

// eisaID encodes EisaId(id) as a DWord constant.
func (e *amlEncoder) eisaID(id string) []byte {
	v, err := EISAID(id)
	if err != nil {
		return e.fail("%w", err)
	}
	return dword(v)
}
