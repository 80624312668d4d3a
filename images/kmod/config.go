package kmod

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// configSymbols names the kernel configuration options behind the modules
// a guest needs, most basic first: a module is there (=m) or built in (=y)
// only if every option on its line is.
var configSymbols = map[string][]string{
	"kvm":        {"CONFIG_KVM"},
	"kvm_amd":    {"CONFIG_KVM", "CONFIG_KVM_AMD"},
	"kvm_intel":  {"CONFIG_KVM", "CONFIG_KVM_INTEL"},
	"virtio_pci": {"CONFIG_VIRTIO_PCI"},
	"virtio_blk": {"CONFIG_VIRTIO_BLK"},
	"ext4":       {"CONFIG_EXT4_FS"},
}

// Config is a kernel's .config (Debian ships it as /boot/config-<release>):
// option name to value, "y", "m", a number or a string. An option that is
// "not set" is absent.
type Config map[string]string

// ReadConfig parses a kernel .config.
func ReadConfig(r io.Reader) (Config, error) {
	c := Config{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(k, "CONFIG_") {
			continue
		}
		c[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read kernel config: %w", err)
	}
	return c, nil
}

// MissingError says that a wanted module is neither in the module tree nor
// built in, and which configuration option the kernel lacks.
type MissingError struct {
	Name   string // the wanted module, e.g. "kvm_amd"
	Option string // the option that is not set, e.g. "CONFIG_KVM_AMD"; "" if unknown
	Value  string // the option's value when the config says it is there (the package is then incomplete)
	Config bool   // Option was read from the kernel's config, not inferred from the name
}

func (e *MissingError) Error() string {
	switch {
	case e.Option == "":
		return fmt.Sprintf("this kernel has no module %s and none built in; check the name, or use a kernel that has it", e.Name)
	case e.Value != "":
		return fmt.Sprintf("this kernel's config has %s=%s but no module %s is in the package and none is built in; is the package complete?", e.Option, e.Value, e.Name)
	case !e.Config:
		return fmt.Sprintf("this kernel has no %s, neither a module nor built in; use a kernel built with %s=m or %s=y", e.Name, e.Option, e.Option)
	}
	return fmt.Sprintf("this kernel has no %s (%s is not set: neither a module nor built in); use a kernel built with %s=m or %s=y",
		e.Name, e.Option, e.Option, e.Option)
}

// CheckWanted returns a *MissingError for the first wanted name that is
// neither a module in ix nor built in, naming the option of config (nil
// when the kernel's config is not at hand) that keeps it out.
func (ix *Index) CheckWanted(wanted []string, config Config) error {
	for _, w := range wanted {
		if len(ix.resolve(w)) > 0 || ix.Builtin(w) {
			continue
		}
		e := &MissingError{Name: w, Config: config != nil}
		opts := configSymbols[NormalizeName(w)]
		for _, o := range opts {
			if config == nil {
				e.Option = o // the most specific one, below
				continue
			}
			if v, ok := config[o]; !ok || (v != "y" && v != "m") {
				e.Option = o
				break
			}
		}
		if e.Option == "" && len(opts) > 0 {
			// Every option is set, yet nothing is there.
			e.Option, e.Value = opts[len(opts)-1], config[opts[len(opts)-1]]
		}
		return e
	}
	return nil
}
