package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/gonest/gonest/images/debkernel"
)

// runKernelpkg reads package names (apt-cache pkgnames linux-image-) on
// stdin and prints the package build.sh should download: with -version,
// the newest unsigned image of that version and flavour; without it, the
// flavour's meta package, whose dependency names the current kernel.
// Errors use the images pipeline's variable names, since build.sh repeats
// them as they are.
func runKernelpkg(args []string) error {
	fs := flag.NewFlagSet("kernelpkg", flag.ContinueOnError)
	version := fs.String("version", "", "kernel version: 6.12, 6.1, 6.1.0-57 (KERNEL_VERSION)")
	flavour := fs.String("flavour", "", "kernel flavour: default, cloud, rt (KERNEL_FLAVOUR)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var names []string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		names = append(names, strings.Fields(sc.Text())...)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read package names: %w", err)
	}
	pkgs := debkernel.ParseAll(names)
	if *version == "" {
		if err := debkernel.CheckFlavour(pkgs, *flavour); err != nil {
			return kernelpkgError(err)
		}
		fmt.Println(debkernel.MetaPackage(*flavour))
		return nil
	}
	p, err := debkernel.Select(pkgs, *version, *flavour)
	if err != nil {
		return kernelpkgError(err)
	}
	fmt.Println(p.Name)
	return nil
}

func kernelpkgError(err error) error {
	var nf *debkernel.NoFlavourError
	var nv *debkernel.NoVersionError
	switch {
	case errors.As(err, &nf) && len(nf.Have) > 0:
		return fmt.Errorf("KERNEL_FLAVOUR=%s matches no Debian kernel package; flavours: %s", nf.Flavour, strings.Join(nf.Have, ", "))
	case errors.As(err, &nv):
		return fmt.Errorf("KERNEL_VERSION=%s matches no Debian kernel package of flavour %s; versions: %s",
			nv.Version, nv.Flavour, strings.Join(nv.Have, ", "))
	}
	return err
}
