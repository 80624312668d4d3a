package kmod

import (
	"fmt"
	"sort"
)

// Module is one loadable module in an Index.
type Module struct {
	Name     string   // kernel module name, e.g. "kvm_amd"
	Path     string   // slash path relative to lib/modules/<release>, e.g. "kernel/arch/x86/kvm/kvm-amd.ko"
	Src      string   // the file in the scanned tree when it differs from Path: "kernel/arch/x86/kvm/kvm-amd.ko.xz"
	Depends  []string // names of modules it needs loaded first
	SoftPre  []string // names or aliases it would like loaded first (softdep pre:)
	Aliases  []string // other names it answers to
	Optional bool     // set by Closure: needed only as a soft dependency, so a failed load is not fatal
}

// Index is a set of modules by name, with their aliases, and the modules
// the kernel has built in (see builtin.go).
type Index struct {
	modules map[string]Module
	aliases map[string][]string // alias -> module names, sorted
	builtin builtinSet
}

// NewIndex returns an empty Index.
func NewIndex() *Index {
	return &Index{modules: map[string]Module{}, aliases: map[string][]string{}, builtin: newBuiltinSet()}
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
// alias. A wanted name or a dependency that the kernel has built in needs
// no module and is left out (Builtin tells which). A missing hard
// dependency is an error; a soft dependency that resolves to no module is
// skipped, as modprobe skips it, and a module reached only through soft
// dependencies is marked Optional.
func (ix *Index) Closure(wanted []string) ([]Module, error) {
	required := map[string]bool{}
	var markRequired func(name, from string) error
	markRequired = func(name, from string) error {
		m, ok := ix.Lookup(name)
		if !ok {
			if ix.Builtin(name) {
				return nil
			}
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
			if ix.Builtin(w) {
				continue
			}
			return nil, fmt.Errorf("no module named %s in the module tree, and the kernel has none built in", w)
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
			if _, ok := ix.modules[NormalizeName(d)]; !ok {
				continue // built in, or missing under an optional module (markRequired checked the required ones)
			}
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
