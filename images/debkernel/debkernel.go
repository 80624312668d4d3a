package debkernel

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// DefaultFlavour is the name used here for Debian's unnamed flavour
// (linux-image-<version>-amd64).
const DefaultFlavour = "default"

// Package is one unsigned Debian kernel image package.
type Package struct {
	Name    string // linux-image-6.12.118+deb12-cloud-amd64-unsigned
	Version string // 6.12.118+deb12, 6.1.0-57
	Flavour string // default, cloud, rt
}

// Release is the kernel release the package installs (uname -r, the
// lib/modules directory): 6.12.118+deb12-cloud-amd64.
func (p Package) Release() string {
	if p.Flavour == DefaultFlavour {
		return p.Version + "-amd64"
	}
	return p.Version + "-" + p.Flavour + "-amd64"
}

// Series is the upstream series of the version: "6.12" for
// "6.12.118+deb12", "6.1" for "6.1.0-57".
func (p Package) Series() string {
	parts := strings.SplitN(p.Version, ".", 3)
	if len(parts) < 2 {
		return p.Version
	}
	return parts[0] + "." + strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' })
}

// unsignedName matches linux-image-<version>-[<flavour>-]amd64-unsigned.
// The version is digits and dots with an optional "+debN" or an ABI
// number after a dash ("6.1.0-57"); a flavour is letters.
var unsignedName = regexp.MustCompile(`^linux-image-([0-9]+\.[0-9]+[0-9.]*(?:\+[a-z0-9.]+)?(?:-[0-9]+)?)-(?:([a-z]+)-)?amd64-unsigned$`)

// Parse reads an unsigned kernel image package name; ok is false for any
// other package (signed images, -dbg, meta packages).
func Parse(name string) (Package, bool) {
	m := unsignedName.FindStringSubmatch(name)
	if m == nil {
		return Package{}, false
	}
	flavour := m[2]
	if flavour == "" {
		flavour = DefaultFlavour
	}
	return Package{Name: name, Version: m[1], Flavour: flavour}, true
}

// ParseAll keeps the unsigned kernel image packages among names.
func ParseAll(names []string) []Package {
	var out []Package
	for _, n := range names {
		if p, ok := Parse(strings.TrimSpace(n)); ok {
			out = append(out, p)
		}
	}
	return out
}

// MetaPackage is the meta package that depends on the current kernel of
// the flavour: linux-image-amd64, linux-image-cloud-amd64.
func MetaPackage(flavour string) string {
	if flavour == "" || flavour == DefaultFlavour {
		return "linux-image-amd64"
	}
	return "linux-image-" + flavour + "-amd64"
}

// NoFlavourError: no package has the flavour asked for.
type NoFlavourError struct {
	Flavour string
	Have    []string // the flavours there are, sorted
}

func (e *NoFlavourError) Error() string {
	if len(e.Have) == 0 {
		return "no Debian kernel image package is known; run: apt-get update"
	}
	return fmt.Sprintf("flavour %q matches no Debian kernel package; flavours: %s", e.Flavour, strings.Join(e.Have, ", "))
}

// NoVersionError: no package of the flavour has the version asked for.
type NoVersionError struct {
	Version, Flavour string
	Have             []string // per series, "6.12 (6.12.107+deb12 to 6.12.118+deb12)"
}

func (e *NoVersionError) Error() string {
	return fmt.Sprintf("version %s matches no Debian kernel package of flavour %s; versions: %s",
		e.Version, e.Flavour, strings.Join(e.Have, ", "))
}

// Flavours lists the flavours among pkgs, sorted.
func Flavours(pkgs []Package) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range pkgs {
		if !seen[p.Flavour] {
			seen[p.Flavour] = true
			out = append(out, p.Flavour)
		}
	}
	sort.Strings(out)
	return out
}

// CheckFlavour returns a *NoFlavourError when no package has flavour.
func CheckFlavour(pkgs []Package, flavour string) error {
	if flavour == "" {
		flavour = DefaultFlavour
	}
	for _, p := range pkgs {
		if p.Flavour == flavour {
			return nil
		}
	}
	return &NoFlavourError{Flavour: flavour, Have: Flavours(pkgs)}
}

// Matches reports whether version v is the version asked for, or falls
// under it: "6.12" matches "6.12.118+deb12" but not "6.1.0-57"; "6.1"
// matches "6.1.0-57"; "6.1.0-57" matches only itself.
func Matches(v, asked string) bool {
	if v == asked {
		return true
	}
	rest, ok := strings.CutPrefix(v, asked)
	return ok && rest != "" && strings.ContainsRune(".-+", rune(rest[0]))
}

// Select returns the newest package of the flavour ("" means default)
// whose version matches version.
func Select(pkgs []Package, version, flavour string) (Package, error) {
	if flavour == "" {
		flavour = DefaultFlavour
	}
	if err := CheckFlavour(pkgs, flavour); err != nil {
		return Package{}, err
	}
	var best Package
	found := false
	for _, p := range pkgs {
		if p.Flavour == flavour && Matches(p.Version, version) && (!found || Compare(p.Version, best.Version) > 0) {
			best, found = p, true
		}
	}
	if !found {
		return Package{}, &NoVersionError{Version: version, Flavour: flavour, Have: seriesSummary(pkgs, flavour)}
	}
	return best, nil
}

// seriesSummary describes the versions of the flavour per series, oldest
// series first: "6.1 (6.1.0-42 to 6.1.0-57)", or "6.12 (6.12.118+deb12)".
func seriesSummary(pkgs []Package, flavour string) []string {
	lo, hi := map[string]string{}, map[string]string{}
	var series []string
	for _, p := range pkgs {
		if p.Flavour != flavour {
			continue
		}
		s := p.Series()
		if _, ok := lo[s]; !ok {
			series = append(series, s)
			lo[s], hi[s] = p.Version, p.Version
		}
		if Compare(p.Version, lo[s]) < 0 {
			lo[s] = p.Version
		}
		if Compare(p.Version, hi[s]) > 0 {
			hi[s] = p.Version
		}
	}
	sort.Slice(series, func(i, j int) bool { return Compare(series[i], series[j]) < 0 })
	out := make([]string, len(series))
	for i, s := range series {
		if lo[s] == hi[s] {
			out[i] = fmt.Sprintf("%s (%s)", s, lo[s])
		} else {
			out[i] = fmt.Sprintf("%s (%s to %s)", s, lo[s], hi[s])
		}
	}
	return out
}

// Compare orders kernel versions the way sort -V does for these names:
// runs of digits compare as numbers, other runs as strings.
func Compare(a, b string) int {
	for a != "" && b != "" {
		ra, restA := nextRun(a)
		rb, restB := nextRun(b)
		if c := compareRun(ra, rb); c != 0 {
			return c
		}
		a, b = restA, restB
	}
	return strings.Compare(a, b)
}

func nextRun(s string) (string, string) {
	digit := s[0] >= '0' && s[0] <= '9'
	i := 1
	for i < len(s) && (s[i] >= '0' && s[i] <= '9') == digit {
		i++
	}
	return s[:i], s[i:]
}

func compareRun(a, b string) int {
	na, errA := strconv.ParseUint(a, 10, 64)
	nb, errB := strconv.ParseUint(b, 10, 64)
	if errA == nil && errB == nil {
		switch {
		case na < nb:
			return -1
		case na > nb:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}
