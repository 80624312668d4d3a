package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gonest/gonest/internal/diskfiles"
)

// runDiskfiles writes the known files of the virtio-blk test disk and
// their SHA256SUMS into a directory that mke2fs -d then packs.
func runDiskfiles(args []string) error {
	fs := flag.NewFlagSet("diskfiles", flag.ContinueOnError)
	out := fs.String("o", "", "directory to fill (created); "+diskfiles.KnownDir+"/ goes inside it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		return fmt.Errorf("usage: mkimage diskfiles -o DIR")
	}
	return writeDiskfiles(*out)
}

func writeDiskfiles(root string) error {
	known := diskfiles.Known()
	if err := os.MkdirAll(filepath.Join(root, diskfiles.KnownDir), 0o755); err != nil {
		return err
	}
	for _, f := range known {
		err := writeIfChanged(filepath.Join(root, filepath.FromSlash(f.Path)), 0o644, func(w io.Writer) error {
			_, err := io.Copy(w, f.Reader())
			return err
		})
		if err != nil {
			return err
		}
	}
	return writeIfChanged(filepath.Join(root, filepath.FromSlash(diskfiles.SumsFile)), 0o644, func(w io.Writer) error {
		return diskfiles.WriteSums(w, diskfiles.KnownDir, known)
	})
}
