package vmexec

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gonest/gonest/guest/initkit"
	"github.com/gonest/gonest/images/kmod"
	"github.com/gonest/gonest/images/kmod/modfile"
	"github.com/gonest/gonest/vmexec/job"
)

// RequiredModules are what the guest init needs of its kernel: the
// virtio-pci transport, the console ports (the command's streams and the
// job), virtio-fs (the host's files; it pulls fuse) and overlayfs (a
// writable root over the read-only host). Each must be a module in the
// modules directory or built into the kernel (modules.builtin).
var RequiredModules = []string{"virtio_pci", "virtio_console", "virtiofs", "overlay"}

// compressedSuffixes are the module file endings beside .ko that distro
// kernels ship (Fedora's and Debian 6.12's .ko.xz, Ubuntu's and Arch's
// .ko.zst); the guest's kernel decompresses them itself
// (CONFIG_MODULE_DECOMPRESS, finit_module's MODULE_INIT_COMPRESSED_FILE).
var compressedSuffixes = []string{".ko.xz", ".ko.zst", ".ko.gz"}

// moduleSet is the modules packed into the initramfs, and their load list.
type moduleSet struct {
	release string
	dir     string   // the host's lib/modules/<release>
	files   []string // module files, relative to dir, as found there
	list    []byte   // job.ModuleList
	names   []string // for -v, in load order
	builtin []byte   // the kernel's modules.builtin, as it is
}

// resolveModules finds required, kvm and extra modules in dir. A required
// module that is neither there nor built in is a *UsageError naming every
// one missing; a missing kvm or extra one is left out.
func resolveModules(dir, release string, required, kvm, extra []string) (*moduleSet, error) {
	ix, files, err := indexModules(dir)
	if err != nil {
		return nil, err
	}
	builtinText, _ := os.ReadFile(filepath.Join(dir, "modules.builtin"))
	builtin := initkit.Builtin(dir)
	set := &moduleSet{release: release, dir: dir, builtin: builtinText}
	var base, missing []string
	for _, name := range required {
		switch {
		case lookup(ix, name):
			base = append(base, name)
		case builtin[kmod.NormalizeName(name)]:
		default:
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, usagef("%s lacks modules gonest exec needs: %s (neither a module there nor built into the kernel per its modules.builtin); "+
			"use a kernel built with CONFIG_VIRTIO_PCI, CONFIG_VIRTIO_CONSOLE, CONFIG_VIRTIO_FS and CONFIG_OVERLAY_FS", dir, strings.Join(missing, ", "))
	}
	present := func(names []string) []string {
		var out []string
		for _, n := range names {
			if lookup(ix, n) {
				out = append(out, n)
			}
		}
		return out
	}
	var list bytes.Buffer
	packed := map[string]bool{}
	for _, g := range []struct {
		name  string
		wants []string
	}{{job.GroupBase, base}, {job.GroupKVM, present(kvm)}, {job.GroupExtra, present(extra)}} {
		if len(g.wants) == 0 {
			continue
		}
		mods, err := ix.Closure(g.wants)
		if err != nil {
			return nil, usagef("modules in %s: %v", dir, err)
		}
		for _, m := range mods {
			file := cmp.Or(files[m.Path], m.Src, m.Path)
			group := g.name
			if m.Optional {
				group += "?"
			}
			fmt.Fprintf(&list, "%s %s %s\n", group, m.Name, file)
			if !packed[m.Name] {
				packed[m.Name] = true
				set.files = append(set.files, file)
				set.names = append(set.names, m.Name)
			}
		}
	}
	set.list = list.Bytes()
	return set, nil
}

func lookup(ix *kmod.Index, name string) bool {
	_, ok := ix.Lookup(name)
	return ok
}

// indexModules reads dir's modules.dep (written by depmod, or by the
// images pipeline), or, without one (a kernel package unpacked by hand),
// every module's .modinfo. It also returns, for each module's path as the
// index knows it (ending .ko), the file as found in dir: compressed
// modules are indexed under their uncompressed names and packed as they
// are.
func indexModules(dir string) (*kmod.Index, map[string]string, error) {
	dep, err := os.ReadFile(filepath.Join(dir, kmod.DepFile))
	if errors.Is(err, os.ErrNotExist) {
		ix, err := kmod.ScanTree(dir, modfile.Open)
		if err != nil {
			return nil, nil, usagef("%v; give the lib/modules/<release> directory of the kernel", err)
		}
		return ix, map[string]string{}, nil // each compressed file is its module's Src
	}
	if err != nil {
		return nil, nil, usagef("modules in %s: %v", dir, err)
	}
	plain, files := uncompressedNames(dep)
	ix := kmod.NewIndex()
	if err := ix.ReadDep(bytes.NewReader(plain)); err != nil {
		return nil, nil, usagef("modules in %s: %v", dir, err)
	}
	if soft, err := os.ReadFile(filepath.Join(dir, kmod.SoftdepFile)); err == nil {
		if err := ix.ReadSoftdep(bytes.NewReader(soft)); err != nil {
			return nil, nil, usagef("modules in %s: %v", dir, err)
		}
	}
	return ix, files, nil
}

// uncompressedNames rewrites a modules.dep so that every module path ends
// in .ko, and maps each rewritten path to the file's real one.
func uncompressedNames(dep []byte) ([]byte, map[string]string) {
	files := map[string]string{}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(dep))
	sc.Buffer(make([]byte, 4096), 1<<20)
	plain := func(f string) string {
		p := f
		for _, suf := range compressedSuffixes {
			if base, ok := strings.CutSuffix(f, suf); ok {
				p = base + ".ko"
			}
		}
		files[p] = f
		return p
	}
	for sc.Scan() {
		modPath, deps, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			out.WriteString(sc.Text() + "\n") // ReadDep says what is wrong with it
			continue
		}
		out.WriteString(plain(strings.TrimSpace(modPath)) + ":")
		for _, d := range strings.Fields(deps) {
			out.WriteString(" " + plain(d))
		}
		out.WriteString("\n")
	}
	return out.Bytes(), files
}

// kvmModules are the KVM modules a guest may load to run guests of its
// own, for each CPU vendor's virtualization extension.
func kvmModules(vendor string) []string {
	return []string{initkit.KVMModule(vendor)}
}

// describe lists the modules for -v.
func (s *moduleSet) describe() string {
	return fmt.Sprintf("%d modules from %s: %s", len(s.names), s.dir, strings.Join(s.names, " "))
}
