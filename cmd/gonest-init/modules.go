package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
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

// cpuFlags returns the "flags" of the first processor in /proc/cpuinfo.
func cpuFlags(r io.Reader) map[string]bool {
	flags := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(key) == "flags" {
			for _, f := range strings.Fields(value) {
				flags[f] = true
			}
			return flags
		}
	}
	return flags
}

// wantedModules picks the KVM module for the CPU, then the base ones.
func wantedModules(flags map[string]bool) []string {
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

// loadModules loads what the image holds of wantedModules, in dependency
// order, and returns the errors of required modules. An image without
// modules (G2's) loads nothing and is not an error.
func loadModules(log *slog.Logger) []error {
	dir, err := moduleDir()
	if err != nil {
		log.Info("no kernel modules loaded", "reason", err)
		return nil
	}
	ix, err := kmod.LoadDir(dir)
	if err != nil {
		return []error{err}
	}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return []error{fmt.Errorf("read CPU flags: %w", err)}
	}
	flags := cpuFlags(f)
	f.Close()
	want := wantedModules(flags)
	if !flags["svm"] && !flags["vmx"] {
		log.Warn("CPU offers neither svm nor vmx: KVM modules not loaded; this level cannot run guests")
	}
	var present []string
	for _, w := range want {
		if _, ok := ix.Lookup(w); ok {
			present = append(present, w)
		} else {
			log.Info("module not in image", "name", w)
		}
	}
	mods, err := ix.Closure(present)
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
	reportNested(log)
	return errs
}

func loadModule(log *slog.Logger, dir string, m kmod.Module) error {
	start := time.Now()
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(m.Path)))
	if err != nil {
		return fmt.Errorf("module %s: %w", m.Name, err)
	}
	defer f.Close()
	params := moduleParams[m.Name]
	err = unix.FinitModule(int(f.Fd()), params, 0)
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

// reportNested logs whether KVM is ready and nested virtualization is on,
// the line the lab checks: "kvm status module=kvm_amd nested=1 ...".
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
