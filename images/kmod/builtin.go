package kmod

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Files the kernel build writes next to the modules (make modules_install)
// about the modules it linked into the kernel image instead.
const (
	// BuiltinFile lists one path per built-in module, as if it were a
	// module file: "kernel/drivers/virtio/virtio_pci.ko".
	BuiltinFile = "modules.builtin"
	// BuiltinModinfoFile holds the built-in modules' .modinfo fields,
	// each NUL-terminated and prefixed with the module name:
	// "ext4.alias=fs-ext4".
	BuiltinModinfoFile = "modules.builtin.modinfo"
)

// builtinSet is what an Index knows of the built-in modules.
type builtinSet struct {
	paths   map[string]string   // module name -> path in modules.builtin
	aliases map[string][]string // alias -> built-in module names
}

func newBuiltinSet() builtinSet {
	return builtinSet{paths: map[string]string{}, aliases: map[string][]string{}}
}

// Builtin reports whether name (a module name in any spelling, or an
// alias) is a module the kernel has built in: it needs no loading.
func (ix *Index) Builtin(name string) bool {
	if _, ok := ix.builtin.paths[NormalizeName(name)]; ok {
		return true
	}
	return len(ix.builtin.aliases[name]) > 0
}

// BuiltinCount is the number of built-in modules the index knows.
func (ix *Index) BuiltinCount() int { return len(ix.builtin.paths) }

// ReadBuiltin adds the built-in modules listed in a modules.builtin.
func (ix *Index) ReadBuiltin(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	for line := 1; sc.Scan(); line++ {
		p := strings.TrimSpace(sc.Text())
		if p == "" {
			continue
		}
		if !validModulePath(p) {
			return fmt.Errorf("%s line %d: bad module path %q", BuiltinFile, line, p)
		}
		ix.builtin.paths[NormalizeName(p)] = p
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", BuiltinFile, err)
	}
	return nil
}

// ReadBuiltinModinfo adds the aliases of built-in modules from a
// modules.builtin.modinfo, so that a soft dependency or a wanted name
// given as an alias ("fs-ext4") is known to be built in.
func (ix *Index) ReadBuiltinModinfo(data []byte) error {
	for _, field := range bytes.Split(data, []byte{0}) {
		key, value, ok := strings.Cut(string(field), "=")
		if !ok {
			continue
		}
		mod, k, ok := strings.Cut(key, ".")
		if !ok || k != "alias" || mod == "" || value == "" {
			continue
		}
		name := NormalizeName(mod)
		if _, ok := ix.builtin.paths[name]; !ok {
			// modules.builtin is the list; the modinfo of an object that
			// is not in it does not make it a module.
			continue
		}
		ix.builtin.aliases[value] = append(ix.builtin.aliases[value], name)
	}
	return nil
}

// WriteBuiltin writes the built-in modules in modules.builtin format,
// sorted, so a guest's tools (and LoadDir) know them too.
func (ix *Index) WriteBuiltin(w io.Writer) error {
	paths := make([]string, 0, len(ix.builtin.paths))
	for _, p := range ix.builtin.paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	bw := bufio.NewWriter(w)
	for _, p := range paths {
		bw.WriteString(p + "\n")
	}
	return bw.Flush()
}
