package virtiofs

import (
	"fmt"
	"strings"
	"time"

	"github.com/gonest/gonest/internal/optlist"
)

// Spec is one shared directory: gonest run's
// -fs HOSTDIR,tag=TAG[,ro][,cache=DURATION]. A comma inside HOSTDIR is
// written twice (",,").
type Spec struct {
	// Dir is the host directory the guest sees.
	Dir string
	// Tag is what the guest mounts: mount -t virtiofs TAG /mnt.
	Tag string
	// ReadOnly refuses every change with EROFS.
	ReadOnly bool
	// Cache is how long the guest may trust names and attributes before
	// asking again; 0 means hostfs.DefaultTimeout (a second). Longer
	// suits a tree that does not change on the host while the guest runs
	// (a read-only toolchain), and makes walking it much cheaper.
	Cache time.Duration
}

// MaxCache bounds Spec.Cache.
const MaxCache = 24 * time.Hour

const specUsage = "use -fs HOSTDIR,tag=TAG[,ro][,cache=DURATION]"

// ParseSpec parses a -fs argument. It checks the syntax and the tag; New
// checks the directory.
func ParseSpec(s string) (Spec, error) {
	fields := optlist.Split(s)
	spec := Spec{Dir: fields[0]}
	if spec.Dir == "" {
		return Spec{}, fmt.Errorf("-fs %q: empty directory; %s", s, specUsage)
	}
	seen := map[string]bool{}
	for _, f := range fields[1:] {
		name, value, hasValue := strings.Cut(f, "=")
		if seen[name] {
			return Spec{}, fmt.Errorf("-fs %q: option %q given twice", s, name)
		}
		seen[name] = true
		switch {
		case name == "ro" && !hasValue:
			spec.ReadOnly = true
		case name == "tag" && hasValue:
			spec.Tag = value
		case name == "cache" && hasValue:
			d, err := time.ParseDuration(value)
			if err != nil || d <= 0 || d > MaxCache {
				return Spec{}, fmt.Errorf("-fs %q: cache=%s: want a duration from 1ms to %s, such as 1s or 10m", s, value, MaxCache)
			}
			spec.Cache = d
		case f == "":
			return Spec{}, fmt.Errorf("-fs %q: empty option (a stray comma? write a comma in the path as ,,); %s", s, specUsage)
		default:
			return Spec{}, fmt.Errorf("-fs %q: unknown option %q; options are tag=TAG, ro and cache=DURATION", s, f)
		}
	}
	if !seen["tag"] {
		return Spec{}, fmt.Errorf("-fs %q: no tag; the guest mounts the share by its tag: %s", s, specUsage)
	}
	if err := CheckTag(spec.Tag); err != nil {
		return Spec{}, fmt.Errorf("-fs %q: %w", s, err)
	}
	return spec, nil
}

// String formats the spec so that ParseSpec returns it again.
func (s Spec) String() string {
	out := optlist.Escape(s.Dir) + ",tag=" + optlist.Escape(s.Tag)
	if s.ReadOnly {
		out += ",ro"
	}
	if s.Cache != 0 {
		out += ",cache=" + s.Cache.String()
	}
	return out
}

// CheckTag accepts a tag the guest can type in a mount command and the
// configuration space can hold: 1 to 36 bytes of letters, digits, '.',
// '_' and '-'.
func CheckTag(tag string) error { return optlist.CheckWord("tag", tag, TagMax) }
