package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gonest/gonest/images/kmod"
)

func runModules(args []string) error {
	fs := flag.NewFlagSet("modules", flag.ContinueOnError)
	from := fs.String("from", "", "unpacked lib/modules/<release> directory of the kernel package")
	to := fs.String("to", "", "output lib/modules/<release> directory (created)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" || *to == "" || fs.NArg() == 0 {
		return fmt.Errorf("need -from, -to and at least one module name")
	}
	ix, err := kmod.ScanTree(*from)
	if err != nil {
		return err
	}
	mods, err := ix.Closure(fs.Args())
	if err != nil {
		return fmt.Errorf("%w; check the module names against %s", err, *from)
	}
	if err := os.MkdirAll(*to, 0o755); err != nil {
		return err
	}
	if err := ix.WriteTree(*from, *to, mods); err != nil {
		return err
	}
	for _, m := range mods {
		note := ""
		if m.Optional {
			note = " (soft dependency)"
		}
		fmt.Printf("module %-22s %s%s\n", m.Name, m.Path, note)
	}
	return nil
}
