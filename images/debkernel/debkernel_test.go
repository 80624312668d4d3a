package debkernel

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// aptNames is a slice of what `apt-cache pkgnames linux-image-` printed on
// Debian 12 after apt-get update (2026-12-07), with its noise: signed and
// debug images, meta packages, templates.
var aptNames = strings.Fields(`
linux-image-6.1.0-42-amd64 linux-image-6.1.0-42-amd64-unsigned linux-image-6.1.0-42-amd64-dbg
linux-image-6.1.0-42-cloud-amd64-unsigned linux-image-6.1.0-42-rt-amd64-unsigned
linux-image-6.1.0-9-amd64-unsigned
linux-image-6.1.0-57-amd64-unsigned linux-image-6.1.0-57-cloud-amd64-unsigned linux-image-6.1.0-57-rt-amd64-unsigned
linux-image-6.12.107+deb12-amd64-unsigned linux-image-6.12.107+deb12-cloud-amd64-unsigned
linux-image-6.12.118+deb12-amd64-unsigned linux-image-6.12.118+deb12-cloud-amd64-unsigned
linux-image-6.12.118+deb12-rt-amd64-unsigned linux-image-6.12.118+deb12-amd64-dbg
linux-image-6.12-amd64 linux-image-6.12-cloud-amd64 linux-image-amd64 linux-image-cloud-amd64
linux-image-amd64-signed-template linux-image-rt-amd64
`)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		want Package
		ok   bool
	}{
		{"linux-image-6.1.0-57-amd64-unsigned", Package{"linux-image-6.1.0-57-amd64-unsigned", "6.1.0-57", "default"}, true},
		{"linux-image-6.1.0-57-cloud-amd64-unsigned", Package{"linux-image-6.1.0-57-cloud-amd64-unsigned", "6.1.0-57", "cloud"}, true},
		{"linux-image-6.12.118+deb12-rt-amd64-unsigned", Package{"linux-image-6.12.118+deb12-rt-amd64-unsigned", "6.12.118+deb12", "rt"}, true},
		{"linux-image-6.12.118+deb12-amd64-unsigned", Package{"linux-image-6.12.118+deb12-amd64-unsigned", "6.12.118+deb12", "default"}, true},
		{"linux-image-6.1.0-57-amd64", Package{}, false},
		{"linux-image-6.12.118+deb12-amd64-dbg", Package{}, false},
		{"linux-image-6.12-amd64", Package{}, false},
		{"linux-image-amd64", Package{}, false},
		{"linux-image-amd64-signed-template", Package{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Parse(tt.name)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestReleaseAndSeries(t *testing.T) {
	p, _ := Parse("linux-image-6.12.118+deb12-cloud-amd64-unsigned")
	assert.Equal(t, "6.12.118+deb12-cloud-amd64", p.Release())
	assert.Equal(t, "6.12", p.Series())
	p, _ = Parse("linux-image-6.1.0-57-amd64-unsigned")
	assert.Equal(t, "6.1.0-57-amd64", p.Release())
	assert.Equal(t, "6.1", p.Series())
}

func TestSelect(t *testing.T) {
	pkgs := ParseAll(aptNames)
	tests := []struct {
		version, flavour, want string
	}{
		{"6.12", "", "linux-image-6.12.118+deb12-amd64-unsigned"},
		{"6.12", "default", "linux-image-6.12.118+deb12-amd64-unsigned"},
		{"6.12", "cloud", "linux-image-6.12.118+deb12-cloud-amd64-unsigned"},
		{"6.12.107", "cloud", "linux-image-6.12.107+deb12-cloud-amd64-unsigned"},
		{"6.1", "", "linux-image-6.1.0-57-amd64-unsigned"}, // 57 > 42 > 9, and 6.12 is not 6.1
		{"6.1", "rt", "linux-image-6.1.0-57-rt-amd64-unsigned"},
		{"6.1.0-42", "cloud", "linux-image-6.1.0-42-cloud-amd64-unsigned"},
		{"6", "", "linux-image-6.12.118+deb12-amd64-unsigned"},
	}
	for _, tt := range tests {
		t.Run(tt.version+"/"+tt.flavour, func(t *testing.T) {
			got, err := Select(pkgs, tt.version, tt.flavour)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.Name)
		})
	}
}

// A version or flavour that matches nothing is one line listing what does.
func TestSelectNothing(t *testing.T) {
	pkgs := ParseAll(aptNames)
	tests := []struct {
		version, flavour, want string
	}{
		{"6.13", "", "version 6.13 matches no Debian kernel package of flavour default; versions: 6.1 (6.1.0-9 to 6.1.0-57), 6.12 (6.12.107+deb12 to 6.12.118+deb12)"},
		{"6.12.1", "", "version 6.12.1 matches no Debian kernel package of flavour default; versions: 6.1 (6.1.0-9 to 6.1.0-57), 6.12 (6.12.107+deb12 to 6.12.118+deb12)"},
		{"6.12.107", "rt", "version 6.12.107 matches no Debian kernel package of flavour rt; versions: 6.1 (6.1.0-42 to 6.1.0-57), 6.12 (6.12.118+deb12)"},
		{"6.12", "azure", `flavour "azure" matches no Debian kernel package; flavours: cloud, default, rt`},
	}
	for _, tt := range tests {
		t.Run(tt.version+"/"+tt.flavour, func(t *testing.T) {
			_, err := Select(pkgs, tt.version, tt.flavour)
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
			assert.NotContains(t, err.Error(), "\n")
		})
	}
	_, err := Select(nil, "6.1", "")
	assert.Equal(t, "no Debian kernel image package is known; run: apt-get update", err.Error())
}

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"6.1.0-57", "6.1.0-9", 1},
		{"6.12.118+deb12", "6.12.99+deb12", 1},
		{"6.12.0", "6.1.0-57", 1},
		{"6.1", "6.12", -1},
		{"6.1.0-57", "6.1.0-57", 0},
		{"6.1.0", "6.1.0-1", -1},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Compare(tt.a, tt.b), "%s vs %s", tt.a, tt.b)
		assert.Equal(t, -tt.want, Compare(tt.b, tt.a), "%s vs %s", tt.b, tt.a)
	}
}

func TestMetaPackage(t *testing.T) {
	assert.Equal(t, "linux-image-amd64", MetaPackage(""))
	assert.Equal(t, "linux-image-amd64", MetaPackage("default"))
	assert.Equal(t, "linux-image-cloud-amd64", MetaPackage("cloud"))
}
