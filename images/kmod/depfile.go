package kmod

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Names of the files depmod writes in lib/modules/<release>, which
// WriteTree writes and gonest-init reads.
const (
	DepFile     = "modules.dep"
	SoftdepFile = "modules.softdep"
)

// maxLine bounds one line of a modules.dep we read back.
const maxLine = 64 << 10

// transitive returns the names of every module m needs, most dependent
// first, from an index whose modules list only direct dependencies.
func (ix *Index) transitive(m Module) []string {
	seen := map[string]bool{}
	var post []string
	var walk func(name string)
	walk = func(name string) {
		dep, ok := ix.Lookup(name)
		if !ok || seen[dep.Name] {
			return
		}
		seen[dep.Name] = true
		for _, d := range dep.Depends {
			walk(d)
		}
		post = append(post, dep.Name)
	}
	for _, d := range m.Depends {
		walk(d)
	}
	// depmod lists the most dependent module first; modprobe loads from
	// the end of the line.
	for i, j := 0, len(post)-1; i < j; i, j = i+1, j-1 {
		post[i], post[j] = post[j], post[i]
	}
	return post
}

// WriteDep writes mods in modules.dep format: "path: dep-path ...", each
// line listing every module the first one needs, most dependent first.
func (ix *Index) WriteDep(w io.Writer, mods []Module) error {
	bw := bufio.NewWriter(w)
	for _, m := range mods {
		fmt.Fprintf(bw, "%s:", m.Path)
		for _, d := range ix.transitive(m) {
			fmt.Fprintf(bw, " %s", ix.modules[d].Path)
		}
		bw.WriteString("\n")
	}
	return bw.Flush()
}

// WriteSoftdep writes the soft dependencies among mods in modules.softdep
// format ("softdep ext4 pre: crc32c_generic"), with aliases already resolved
// to the module names in mods.
func (ix *Index) WriteSoftdep(w io.Writer, mods []Module) error {
	packed := map[string]bool{}
	for _, m := range mods {
		packed[m.Name] = true
	}
	bw := bufio.NewWriter(w)
	for _, m := range mods {
		var pre []string
		for _, s := range m.SoftPre {
			for _, n := range ix.resolve(s) {
				if packed[n] && n != m.Name {
					pre = append(pre, n)
				}
			}
		}
		if len(pre) > 0 {
			fmt.Fprintf(bw, "softdep %s pre: %s\n", m.Name, strings.Join(pre, " "))
		}
	}
	return bw.Flush()
}

// ReadDep adds the modules listed in a modules.dep to ix. Each module's
// Depends becomes the (transitive) list on its line, in load order.
func (ix *Index) ReadDep(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		modPath, deps, ok := strings.Cut(text, ":")
		if !ok {
			return fmt.Errorf("%s line %d: no ':' in %q", DepFile, line, text)
		}
		if !validModulePath(modPath) {
			return fmt.Errorf("%s line %d: bad module path %q", DepFile, line, modPath)
		}
		m := Module{Name: NormalizeName(modPath), Path: modPath}
		// The line lists the most dependent module first; keep Depends in
		// load order.
		fields := strings.Fields(deps)
		for i := len(fields) - 1; i >= 0; i-- {
			m.Depends = append(m.Depends, NormalizeName(fields[i]))
		}
		if err := ix.Add(m); err != nil {
			return fmt.Errorf("%s line %d: %w", DepFile, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", DepFile, err)
	}
	return nil
}

// ReadSoftdep adds the "softdep NAME pre: ..." lines of a modules.softdep to
// the modules already in ix. Lines for modules not in ix are ignored.
func (ix *Index) ReadSoftdep(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLine)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if fields[0] != "softdep" || len(fields) < 2 {
			return fmt.Errorf("%s line %d: want \"softdep NAME pre: ...\", got %q", SoftdepFile, line, sc.Text())
		}
		name := NormalizeName(fields[1])
		m, ok := ix.modules[name]
		if !ok {
			continue
		}
		m.SoftPre = append(m.SoftPre, parseSoftdepPre(strings.Join(fields[2:], " "))...)
		ix.modules[name] = m
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", SoftdepFile, err)
	}
	return nil
}

// validModulePath accepts a relative, clean slash path to a .ko file, so a
// modules.dep cannot point a loader outside the modules directory.
func validModulePath(p string) bool {
	return p != "" && !path.IsAbs(p) && path.Clean(p) == p &&
		!strings.HasPrefix(p, "../") && strings.HasSuffix(p, ".ko")
}

// LoadDir reads modules.dep and, if present, modules.softdep and
// modules.builtin from dir (a lib/modules/<release> directory) into a new
// Index.
func LoadDir(dir string) (*Index, error) {
	ix := NewIndex()
	f, err := os.Open(filepath.Join(dir, DepFile))
	if err != nil {
		return nil, fmt.Errorf("open module list: %w", err)
	}
	defer f.Close()
	if err := ix.ReadDep(f); err != nil {
		return nil, err
	}
	sf, err := os.Open(filepath.Join(dir, SoftdepFile))
	switch {
	case os.IsNotExist(err):
	case err != nil:
		return nil, fmt.Errorf("open soft dependencies: %w", err)
	default:
		defer sf.Close()
		if err := ix.ReadSoftdep(sf); err != nil {
			return nil, err
		}
	}
	if err := ix.readBuiltinFiles(dir); err != nil {
		return nil, err
	}
	return ix, nil
}

// WriteTree writes mods from srcDir to dstDir (both lib/modules/<release>
// directories) at their Path, uncompressed (open reads each Src; nil means
// OpenPlain), and writes dstDir's modules.dep, modules.softdep and, when
// the kernel has built-in modules, modules.builtin.
func (ix *Index) WriteTree(srcDir, dstDir string, mods []Module, open Opener) error {
	if open == nil {
		open = OpenPlain
	}
	for _, m := range mods {
		if !validModulePath(m.Path) {
			return fmt.Errorf("module %s has a bad path %q", m.Name, m.Path)
		}
		src := m.Src
		if src == "" {
			src = m.Path
		}
		dst := filepath.Join(dstDir, filepath.FromSlash(m.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := copyModule(open, filepath.Join(srcDir, filepath.FromSlash(src)), dst); err != nil {
			return fmt.Errorf("copy module %s: %w", m.Name, err)
		}
	}
	if err := writeFileWith(filepath.Join(dstDir, DepFile), func(w io.Writer) error { return ix.WriteDep(w, mods) }); err != nil {
		return err
	}
	if err := writeFileWith(filepath.Join(dstDir, SoftdepFile), func(w io.Writer) error { return ix.WriteSoftdep(w, mods) }); err != nil {
		return err
	}
	if ix.BuiltinCount() == 0 {
		return nil
	}
	return writeFileWith(filepath.Join(dstDir, BuiltinFile), ix.WriteBuiltin)
}

func copyModule(open Opener, src, dst string) error {
	in, err := open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeFileWith(dst, func(w io.Writer) error {
		_, err := io.Copy(w, io.NewSectionReader(in, 0, in.Size()))
		return err
	})
}

func writeFileWith(name string, fill func(io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
