package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/gonest/gonest/images/kmod"
	"github.com/gonest/gonest/images/kmod/modfile"
)

// optionalModules returns names without their optional entries: a name
// ending in "?" (9p?) is wanted when the kernel has it, as a module or
// built in, and skipped with a line saying so when it does not (Debian's
// cloud kernels have no 9p).
func optionalModules(ix *kmod.Index, names []string) []string {
	var wanted []string
	for _, n := range names {
		name, optional := strings.CutSuffix(n, "?")
		if optional {
			if _, ok := ix.Lookup(name); !ok && !ix.Builtin(name) {
				fmt.Printf("module %-22s not in this kernel; optional, skipped\n", kmod.NormalizeName(name))
				continue
			}
		}
		wanted = append(wanted, name)
	}
	return wanted
}

func runModules(args []string) error {
	fs := flag.NewFlagSet("modules", flag.ContinueOnError)
	from := fs.String("from", "", "unpacked lib/modules/<release> directory of the kernel package")
	to := fs.String("to", "", "output lib/modules/<release> directory (created)")
	configPath := fs.String("config", "", "the kernel's .config (boot/config-<release>), to name the option a missing module needs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" || *to == "" || fs.NArg() == 0 {
		return fmt.Errorf("need -from, -to and at least one module name")
	}
	ix, err := kmod.ScanTree(*from, modfile.Open)
	if err != nil {
		return err
	}
	var config kmod.Config
	if *configPath != "" {
		f, err := os.Open(*configPath)
		if err != nil {
			return err
		}
		config, err = kmod.ReadConfig(f)
		f.Close()
		if err != nil {
			return err
		}
	}
	wanted := optionalModules(ix, fs.Args())
	if err := ix.CheckWanted(wanted, config); err != nil {
		return err
	}
	for _, w := range wanted {
		if _, ok := ix.Lookup(w); !ok && ix.Builtin(w) {
			fmt.Printf("module %-22s built into the kernel; skipped\n", kmod.NormalizeName(w))
		}
	}
	mods, err := ix.Closure(wanted)
	if err != nil {
		return fmt.Errorf("%w; check the module names against %s", err, *from)
	}
	if err := os.MkdirAll(*to, 0o755); err != nil {
		return err
	}
	if err := ix.WriteTree(*from, *to, mods, modfile.Open); err != nil {
		return err
	}
	for _, m := range mods {
		note := ""
		if m.Optional {
			note = " (soft dependency)"
		}
		if m.Src != "" {
			note += " (uncompressed from " + kmod.CompressionOf(m.Src) + ")"
		}
		fmt.Printf("module %-22s %s%s\n", m.Name, m.Path, note)
	}
	return nil
}
