package initkit

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/images/kmod"
	"golang.org/x/sys/unix"
)

// moduleParams are passed to finit_module for these modules.
var moduleParams = map[string]string{
	"kvm_amd":   "nested=1",
	"kvm_intel": "nested=1",
}

// baseModules are loaded on every CPU when the image has them.
var baseModules = []string{"virtio_pci", "virtio_blk", "ext4"}

// builtinFile lists, one path a line, the modules the kernel was built
// with ("kernel/fs/ext4/ext4.ko"), as Kbuild writes it and distro kernel
// packages ship it next to modules.dep.
const builtinFile = "modules.builtin"

// WantedModules picks the KVM module for the CPU, then the base ones.
func WantedModules(flags map[string]bool) []string {
	var want []string
	switch {
	case flags["svm"]:
		want = append(want, "kvm_amd")
	case flags["vmx"]:
		want = append(want, "kvm_intel")
	}
	return append(want, baseModules...)
}

// moduleDir finds lib/modules/<release> for the running kernel.
func moduleDir() (string, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	release := unix.ByteSliceToString(uts.Release[:])
	dir := filepath.Join(guestabi.ModulesRoot, release)
	if _, err := os.Stat(filepath.Join(dir, kmod.DepFile)); err != nil {
		return "", fmt.Errorf("no modules for kernel %s in this image: %w", release, err)
	}
	return dir, nil
}

// Builtin reads a modules.builtin: the names of the modules the kernel has
// built in, which need no loading.
func Builtin(dir string) map[string]bool {
	names := map[string]bool{}
	f, err := os.Open(filepath.Join(dir, builtinFile))
	if err != nil {
		return names
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		base := path.Base(strings.TrimSpace(sc.Text()))
		if name, ok := strings.CutSuffix(base, ".ko"); ok {
			names[kmod.NormalizeName(name)] = true
		}
	}
	return names
}

// present says why a module needs no loading: built into the kernel, or
// already there (/sys/module/NAME: loaded, or built in with parameters).
func present(builtin map[string]bool, name string) (string, bool) {
	if builtin[kmod.NormalizeName(name)] {
		return "built into the kernel", true
	}
	if _, err := os.Stat(filepath.Join("/sys/module", kmod.NormalizeName(name))); err == nil {
		return "already present", true
	}
	return "", false
}

// LoadModules loads what the image holds of WantedModules for this CPU,
// in dependency order, and returns the errors of required modules. A
// module the kernel has built in counts as present. An image without
// modules (G2's) loads nothing and is not an error.
func LoadModules(log *slog.Logger) []error {
	dir, err := moduleDir()
	if err != nil {
		log.Info("no kernel modules loaded", "reason", err)
		return nil
	}
	ix, err := kmod.LoadDir(dir)
	if err != nil {
		return []error{err}
	}
	_, flags := CPUInfo()
	if !flags["svm"] && !flags["vmx"] {
		log.Warn("CPU offers neither svm nor vmx: KVM modules not loaded; this level cannot run guests")
	}
	builtin := Builtin(dir)
	var load []string
	for _, w := range WantedModules(flags) {
		if _, ok := ix.Lookup(w); ok {
			load = append(load, w)
		} else if why, ok := present(builtin, w); ok {
			log.Info("module "+why, "name", w)
		} else {
			log.Info("module not in image", "name", w)
		}
	}
	errs := loadClosure(log, dir, ix, load)
	reportNested(log)
	return errs
}

// LoadModule loads one module of this image and its dependencies, outside
// the boot-time set (the KVM module on a CPU that hides svm/vmx). A module
// built into the kernel is no error.
func LoadModule(log *slog.Logger, name string) error {
	dir, err := moduleDir()
	if err != nil {
		return err
	}
	ix, err := kmod.LoadDir(dir)
	if err != nil {
		return err
	}
	if _, ok := ix.Lookup(name); !ok {
		if _, ok := present(Builtin(dir), name); ok {
			return nil
		}
		return fmt.Errorf("module %s is not in this image", name)
	}
	return errors.Join(loadClosure(log, dir, ix, []string{name})...)
}

// loadClosure loads names and their dependencies; an optional (soft)
// dependency that fails is logged, not returned.
func loadClosure(log *slog.Logger, dir string, ix *kmod.Index, names []string) []error {
	mods, err := ix.Closure(names)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, m := range mods {
		if err := loadModule(log, dir, m); err != nil {
			if m.Optional {
				log.Info("optional module not loaded", "name", m.Name, "reason", err)
				continue
			}
			log.Error("module load failed", "name", m.Name, "err", err)
			errs = append(errs, err)
		}
	}
	return errs
}

// LoadModuleFile loads one module of dir (a lib/modules/<release>
// directory) from its file, m.Path, without resolving dependencies: for
// an init whose image lists its modules in load order (gonest exec's). A
// compressed file (.ko.xz, .ko.zst, .ko.gz) is decompressed by the kernel;
// a module already loaded is no error.
func LoadModuleFile(log *slog.Logger, dir string, m kmod.Module) error {
	return loadModule(log, dir, m)
}

// compressed lists the suffixes of modules the kernel decompresses itself
// when finit_module gets MODULE_INIT_COMPRESSED_FILE (CONFIG_MODULE_DECOMPRESS).
var compressed = []string{".ko.xz", ".ko.zst", ".ko.gz"}

func loadModule(log *slog.Logger, dir string, m kmod.Module) error {
	start := time.Now()
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(m.Path)))
	if err != nil {
		return fmt.Errorf("module %s: %w", m.Name, err)
	}
	defer f.Close()
	flags := 0
	for _, suffix := range compressed {
		if strings.HasSuffix(m.Path, suffix) {
			flags = unix.MODULE_INIT_COMPRESSED_FILE
		}
	}
	params := moduleParams[m.Name]
	err = unix.FinitModule(int(f.Fd()), params, flags)
	switch {
	case errors.Is(err, unix.EEXIST):
		log.Info("module already loaded", "name", m.Name)
		return nil
	case err != nil:
		return fmt.Errorf("finit_module %s: %w", m.Name, err)
	}
	log.Info("module loaded", "name", m.Name, "params", params, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// reportNested logs whether KVM is ready and nested virtualization is on:
// "kvm status module=kvm_amd nested=1 dev_kvm=true".
func reportNested(log *slog.Logger) {
	for _, mod := range []string{"kvm_amd", "kvm_intel"} {
		b, err := os.ReadFile("/sys/module/" + mod + "/parameters/nested")
		if err != nil {
			continue
		}
		_, devErr := os.Stat("/dev/kvm")
		log.Info("kvm status", "module", mod, "nested", strings.TrimSpace(string(b)), "dev_kvm", devErr == nil)
	}
}
