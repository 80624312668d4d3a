package main

import (
	"os"
)

// checkConflicts refuses flag combinations that would destroy a file:
// -stats-json or -messages naming the kernel, the initrd or a disk
// (written by gonest, it would replace the file), and one disk image
// attached twice with a writable copy (two devices caching one file
// corrupt it).
func checkConflicts(o *runOptions) error {
	inputs := []struct{ flag, path string }{{"-kernel", o.cfg.Kernel}, {"-initrd", o.cfg.Initrd}}
	for _, d := range o.cfg.Disks {
		inputs = append(inputs, struct{ flag, path string }{"-disk", d.Path})
	}
	for _, out := range []struct{ flag, path string }{{"-stats-json", o.statsJSON}, {"-messages", o.messages}} {
		for _, in := range inputs {
			if out.path != "-" && sameFile(out.path, in.path) {
				return usagef("gonest run: %s %s is also the %s file; gonest would replace it (pick another file)", out.flag, out.path, in.flag)
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
