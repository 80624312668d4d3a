package blk

import (
	"fmt"
	"strings"

	"github.com/gonest/gonest/internal/optlist"
)

// Spec is one -disk argument: PATH[,ro][,serial=ID]. A comma inside PATH
// or ID is written twice (",,").
type Spec struct {
	Path     string
	ReadOnly bool
	// Serial is the GET_ID string (at most 20 printable ASCII bytes);
	// empty picks one from the file name.
	Serial string
}

const specUsage = "use -disk PATH[,ro][,serial=ID]"

// ParseDiskSpec parses a -disk argument.
func ParseDiskSpec(s string) (Spec, error) {
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
		case f == "":
			return Spec{}, fmt.Errorf("-disk %q: empty option (a stray comma? write a comma in the path as ,,); %s", s, specUsage)
		default:
			return Spec{}, fmt.Errorf("-disk %q: unknown option %q; options are ro and serial=ID", s, f)
		}
	}
	return spec, nil
}

// String formats the spec so that ParseDiskSpec returns it again.
func (s Spec) String() string {
	out := optlist.Escape(s.Path)
	if s.ReadOnly {
		out += ",ro"
	}
	if s.Serial != "" {
		out += ",serial=" + optlist.Escape(s.Serial)
	}
	return out
}

func checkSerial(v string) error {
	if v == "" {
		return fmt.Errorf("empty serial")
	}
	if len(v) > IDBytes {
		return fmt.Errorf("serial %q is longer than %d bytes", v, IDBytes)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7E {
			return fmt.Errorf("serial %q must be printable ASCII", v)
		}
	}
	return nil
}
