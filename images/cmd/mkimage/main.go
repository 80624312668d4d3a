package main

import (
	"fmt"
	"os"
)

const usage = `usage: mkimage COMMAND [flags]

commands:
  modules    copy wanted kernel modules (uncompressed) and their dependencies, write modules.dep
  kernelpkg  pick the Debian kernel package of a version and flavour from apt's package names
  vmlinux    unpack the ELF vmlinux inside a bzImage
  initramfs  write a gzip-compressed initramfs from base archives and files
  list       list the entries of an initramfs
  diskfiles  write the known files of the virtio-blk test disk and their SHA256SUMS

run "mkimage COMMAND -h" for a command's flags
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmds := map[string]func(args []string) error{
		"modules":   runModules,
		"kernelpkg": runKernelpkg,
		"vmlinux":   runVmlinux,
		"initramfs": runInitramfs,
		"list":      runList,
		"diskfiles": runDiskfiles,
	}
	run, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "mkimage: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "mkimage %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
