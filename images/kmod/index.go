package kmod

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Module is one loadable module in an Index.
type Module struct {
	Name     string   // kernel module name, e.g. "kvm_amd"
	Path     string   // slash path relative to lib/modules/<release>, e.g. "kernel/arch/x86/kvm/kvm-amd.ko"
	Depends  []string // names of modules it needs loaded first
	SoftPre  []string // names or aliases it would like loaded first (softdep pre:)
	Aliases  []string // other names it answers to
	Optional bool     // set by Closure: needed only as a soft dependency, so a failed load is not fatal
}

// Index is a set of modules by name, with their aliases.
type Index struct {
	modules map[string]Module
	aliases map[string][]string // alias -> module names, sorted
}

// NewIndex returns an empty Index.
func NewIndex() *Index {
	return &Index{modules: map[string]Module{}, aliases: map[string][]string{}}
}

// Add puts m in the index. Two modules with one name are an error.
func (ix *Index) Add(m Module) error {
	if m.Name == "" {
		return fmt.Errorf("module at %q has no name", m.Path)
	}
	if old, ok := ix.modules[m.Name]; ok {
		return fmt.Errorf("module %s is both %s and %s", m.Name, old.Path, m.Path)
	}
	ix.modules[m.Name] = m
	for _, a := range m.Aliases {
		names := append(ix.aliases[a], m.Name)
		sort.Strings(names)
		ix.aliases[a] = names
	}
	return nil
}

// Lookup returns the module called name (any spelling NormalizeName accepts).
func (ix *Index) Lookup(name string) (Module, bool) {
	m, ok := ix.modules[NormalizeName(name)]
	return m, ok
}

// Len is the number of modules in the index.
func (ix *Index) Len() int { return len(ix.modules) }

// resolve maps a name or an alias to module names, as modprobe would.
func (ix *Index) resolve(name string) []string {
	if m, ok := ix.Lookup(name); ok {
		return []string{m.Name}
	}
	return ix.aliases[name]
}

// Closure returns the wanted modules and everything they need, each module
// after the ones it depends on. A wanted name may be a module name or an
// alias. A missing hard dependency is an error; a soft dependency that
// resolves to no module is skipped, as modprobe skips it, and a module
// reached only through soft dependencies is marked Optional.
func (ix *Index) Closure(wanted []string) ([]Module, error) {
	required := map[string]bool{}
	var markRequired func(name, from string) error
	markRequired = func(name, from string) error {
		m, ok := ix.Lookup(name)
		if !ok {
			return fmt.Errorf("module %s needs %s, which is not in the module tree", from, name)
		}
		if required[m.Name] {
			return nil
		}
		required[m.Name] = true
		for _, d := range m.Depends {
			if err := markRequired(d, m.Name); err != nil {
				return err
			}
		}
		return nil
	}
	var roots []string
	for _, w := range wanted {
		names := ix.resolve(w)
		if len(names) == 0 {
			return nil, fmt.Errorf("no module named %s in the module tree", w)
		}
		for _, n := range names {
			if err := markRequired(n, "the image"); err != nil {
				return nil, err
			}
		}
		roots = append(roots, names...)
	}

	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var order []Module
	var visit func(name string) error
	visit = func(name string) error {
		switch state[name] {
		case visiting:
			return fmt.Errorf("module dependency cycle through %s", name)
		case done:
			return nil
		}
		state[name] = visiting
		m := ix.modules[name]
		for _, s := range m.SoftPre {
			for _, n := range ix.resolve(s) {
				if n == name || state[n] == visiting {
					continue // a soft dependency never forms a cycle
				}
				if err := visit(n); err != nil {
					return err
				}
			}
		}
		for _, d := range m.Depends {
			if err := visit(NormalizeName(d)); err != nil {
				return err
			}
		}
		state[name] = done
		m.Optional = !required[name]
		order = append(order, m)
		return nil
	}
	for _, r := range roots {
		if err := visit(r); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// ScanTree indexes every *.ko under dir (an unpacked lib/modules/<release>)
// by reading its .modinfo section.
func ScanTree(dir string) (*Index, error) {
	ix := NewIndex()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".ko") {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		mi, err := readModInfoFile(path)
		if err != nil {
			return err
		}
		return ix.Add(Module{
			Name:    mi.Name,
			Path:    filepath.ToSlash(rel),
			Depends: mi.Depends,
			SoftPre: mi.SoftPre,
			Aliases: mi.Aliases,
		})
	})
	if err != nil {
		return nil, fmt.Errorf("scan modules in %s: %w", dir, err)
	}
	if ix.Len() == 0 {
		return nil, fmt.Errorf("scan modules in %s: no *.ko files; is it a lib/modules/<release> directory?", dir)
	}
	return ix, nil
}

func readModInfoFile(path string) (ModInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return ModInfo{}, err
	}
	defer f.Close()
	mi, err := ReadModInfo(f)
	if err != nil {
		return ModInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	return mi, nil
}
