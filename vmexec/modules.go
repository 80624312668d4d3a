package vmexec

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gonest/gonest/guest/initkit"
	"github.com/gonest/gonest/images/kmod"
)

// RequiredModules are what the guest init needs of its kernel: the
// virtio-pci transport, the console ports (the command's streams and the
// job), virtio-fs (the host's files; it pulls fuse) and overlayfs (a
// writable root over the read-only host). Each must be a module in the
// modules directory or built into the kernel (modules.builtin).
var RequiredModules = []string{"virtio_pci", "virtio_console", "virtiofs", "overlay"}

// moduleSet is the modules packed into the initramfs and the files that
// describe them to the guest's loader.
type moduleSet struct {
	release string
	dir     string        // the host's lib/modules/<release>
	mods    []kmod.Module // load order
	dep     []byte        // modules.dep of mods
	softdep []byte        // modules.softdep of mods
	builtin []byte        // the kernel's modules.builtin, as it is
	load    []string      // what the guest loads, in order (built-in ones left out)
}

// resolveModules finds required and optional modules in dir. A required
// module that is neither there nor built in is a *UsageError naming every
// one missing; a missing optional one is left out.
func resolveModules(dir, release string, required, optional []string) (*moduleSet, error) {
	ix, err := indexModules(dir)
	if err != nil {
		return nil, err
	}
	builtinText, _ := os.ReadFile(filepath.Join(dir, "modules.builtin"))
	builtin := initkit.Builtin(dir)
	set := &moduleSet{release: release, dir: dir, builtin: builtinText}
	var missing []string
	for _, name := range required {
		switch {
		case lookup(ix, name):
			set.load = append(set.load, name)
		case builtin[kmod.NormalizeName(name)]:
		default:
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, usagef("%s lacks modules gonest exec needs: %s (neither a module there nor built into the kernel per its modules.builtin); "+
			"use a kernel built with CONFIG_VIRTIO_PCI, CONFIG_VIRTIO_CONSOLE, CONFIG_VIRTIO_FS and CONFIG_OVERLAY_FS", dir, strings.Join(missing, ", "))
	}
	for _, name := range optional {
		if lookup(ix, name) && !slices.Contains(set.load, name) {
			set.load = append(set.load, name)
		}
	}
	if len(set.load) > 0 {
		if set.mods, err = ix.Closure(set.load); err != nil {
			return nil, usagef("modules in %s: %v", dir, err)
		}
	}
	var dep, soft bytes.Buffer
	if err := ix.WriteDep(&dep, set.mods); err != nil {
		return nil, err
	}
	if err := ix.WriteSoftdep(&soft, set.mods); err != nil {
		return nil, err
	}
	set.dep, set.softdep = dep.Bytes(), soft.Bytes()
	return set, nil
}

func lookup(ix *kmod.Index, name string) bool {
	_, ok := ix.Lookup(name)
	return ok
}

// indexModules reads dir's modules.dep (written by depmod, or by the
// images pipeline), or, without one (a kernel package unpacked by hand),
// every module's .modinfo.
func indexModules(dir string) (*kmod.Index, error) {
	ix, err := kmod.LoadDir(dir)
	if err == nil {
		return ix, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, usagef("modules in %s: %v", dir, err)
	}
	ix, err = kmod.ScanTree(dir)
	if err != nil {
		return nil, usagef("%v; give the lib/modules/<release> directory of the kernel", err)
	}
	return ix, nil
}

// kvmModules are the KVM modules a guest may load to run guests of its
// own, for each CPU vendor's virtualization extension.
func kvmModules(vendor string) []string {
	return []string{initkit.KVMModule(vendor)}
}

// describe lists the modules for -v: "virtio_console virtiofs (built in: virtio_pci)".
func (s *moduleSet) describe() string {
	names := make([]string, len(s.mods))
	for i, m := range s.mods {
		names[i] = m.Name
	}
	return fmt.Sprintf("%d modules from %s: %s", len(s.mods), s.dir, strings.Join(names, " "))
}
