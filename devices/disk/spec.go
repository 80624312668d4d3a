package disk

import (
	"fmt"
	"strings"

	"github.com/gonest/gonest/internal/optlist"
)

// Interface is the bus a disk is attached through.
type Interface uint8

const (
	// Virtio attaches the disk as a virtio-blk PCI function (the default).
	Virtio Interface = iota
	// IDE attaches the disk to the emulated PCI IDE controller (ATA PIO).
	IDE
)

// String returns the name -disk's if= option uses.
func (i Interface) String() string {
	switch i {
	case Virtio:
		return "virtio"
	case IDE:
		return "ide"
	}
	return fmt.Sprintf("interface(%d)", uint8(i))
}

// Spec is one -disk argument: PATH[,ro][,serial=ID][,if=virtio|ide]. A
// comma inside PATH or ID is written twice (",,").
type Spec struct {
	Path     string
	ReadOnly bool
	// Serial is the disk's serial number (at most SerialBytes printable
	// ASCII bytes); empty picks one from the file name.
	Serial string
	// Interface is the bus the disk is attached through; the zero value
	// is Virtio.
	Interface Interface
}

// SerialBytes is the longest serial number: both virtio-blk's GET_ID
// string (VIRTIO_BLK_ID_BYTES) and ATA's IDENTIFY serial field hold 20
// bytes.
const SerialBytes = 20

const specUsage = "use -disk PATH[,ro][,serial=ID][,if=virtio|ide]"

// ParseSpec parses a -disk argument.
func ParseSpec(s string) (Spec, error) {
	fields := optlist.Split(s)
	spec := Spec{Path: fields[0]}
	if spec.Path == "" {
		return Spec{}, fmt.Errorf("-disk %q: empty path; %s", s, specUsage)
	}
	seen := map[string]bool{}
	for _, f := range fields[1:] {
		name, value, hasValue := strings.Cut(f, "=")
		if seen[name] {
			return Spec{}, fmt.Errorf("-disk %q: option %q given twice", s, name)
		}
		seen[name] = true
		switch {
		case name == "ro" && !hasValue:
			spec.ReadOnly = true
		case name == "serial" && hasValue:
			if err := checkSerial(value); err != nil {
				return Spec{}, fmt.Errorf("-disk %q: %w", s, err)
			}
			spec.Serial = value
		case name == "if" && hasValue:
			switch value {
			case "virtio":
				spec.Interface = Virtio
			case "ide":
				spec.Interface = IDE
			default:
				return Spec{}, fmt.Errorf("-disk %q: unknown interface %q; use if=virtio or if=ide", s, value)
			}
		case f == "":
			return Spec{}, fmt.Errorf("-disk %q: empty option (a stray comma? write a comma in the path as ,,); %s", s, specUsage)
		default:
			return Spec{}, fmt.Errorf("-disk %q: unknown option %q; options are ro, serial=ID and if=virtio|ide", s, f)
		}
	}
	return spec, nil
}

// String formats the spec so that ParseSpec returns it again.
func (s Spec) String() string {
	out := optlist.Escape(s.Path)
	if s.ReadOnly {
		out += ",ro"
	}
	if s.Serial != "" {
		out += ",serial=" + optlist.Escape(s.Serial)
	}
	if s.Interface != Virtio {
		out += ",if=" + s.Interface.String()
	}
	return out
}

func checkSerial(v string) error {
	if v == "" {
		return fmt.Errorf("empty serial")
	}
	if len(v) > SerialBytes {
		return fmt.Errorf("serial %q is longer than %d bytes", v, SerialBytes)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7E {
			return fmt.Errorf("serial %q must be printable ASCII", v)
		}
	}
	return nil
}
