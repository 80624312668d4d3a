package main

import (
	"os"
	"path/filepath"
	"strings"
)

// checkConflicts refuses flag combinations that would destroy a file:
// -stats-json, -messages or a -port's out= naming the kernel, the
// initrd, a disk or each other (written by gonest, it would replace the
// file), and one disk image attached twice with a writable copy (two
// devices caching one file corrupt it).
func checkConflicts(o *runOptions) error {
	inputs := []struct{ flag, path string }{{"-kernel", o.cfg.Kernel}, {"-initrd", o.cfg.Initrd}}
	for _, d := range o.cfg.Disks {
		inputs = append(inputs, struct{ flag, path string }{"-disk", d.Path})
	}
	var outputs []struct{ flag, path string }
	for _, f := range []struct{ flag, path string }{{"-stats-json ", o.statsJSON}, {"-messages ", o.messages}} {
		if f.path != "" && f.path != "-" {
			outputs = append(outputs, f)
		}
	}
	for _, p := range o.ports {
		if p.Out != "" && !strings.HasPrefix(p.Out, "fd:") {
			outputs = append(outputs, struct{ flag, path string }{"-port " + p.Name + " out=", p.Out})
		}
	}
	for i, out := range outputs {
		for _, in := range inputs {
			if sameFile(out.path, in.path) {
				return usagef("gonest run: %s%s is also the %s file; writing it would replace that file (pick another file)", out.flag, out.path, in.flag)
			}
		}
		for _, other := range outputs[i+1:] {
			if sameFile(out.path, other.path) || filepath.Clean(out.path) == filepath.Clean(other.path) {
				return usagef("gonest run: %s%s is also %s%s; give each output its own file", out.flag, out.path, other.flag, other.path)
			}
		}
	}
	for i, a := range o.cfg.Disks {
		for _, b := range o.cfg.Disks[i+1:] {
			if (!a.ReadOnly || !b.ReadOnly) && sameFile(a.Path, b.Path) {
				return usagef("gonest run: -disk %s is attached twice and writable; give it once, or add ,ro to both", b.Path)
			}
		}
	}
	return nil
}

// sameFile reports whether a and b name one existing file.
func sameFile(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false
	}
	return os.SameFile(sa, sb)
}
