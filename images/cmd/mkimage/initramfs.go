package main

import (
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/gonest/gonest/images/cpio"
)

// spec is what one initramfs holds.
type spec struct {
	bases    []string // raw cpio archives, copied first
	files    [][2]string
	trees    [][2]string
	symlinks [][2]string
}

// counter counts the bytes written through it.
type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func runInitramfs(args []string) error {
	fs := flag.NewFlagSet("initramfs", flag.ContinueOnError)
	out := fs.String("o", "", "output file (newc cpio, gzip-compressed unless -compress none)")
	compress := fs.String("compress", "gzip", "gzip, or none for an archive of files that are compressed already")
	var bases, files, trees, links listFlag
	fs.Var(&bases, "base", "raw cpio archive to include first (repeatable)")
	fs.Var(&files, "file", "SRC:DST, a host file at guest path DST (repeatable)")
	fs.Var(&trees, "tree", "SRC:DST, a host directory copied under guest path DST (repeatable)")
	fs.Var(&links, "symlink", "DST:TARGET, a symbolic link (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 0 {
		return fmt.Errorf("need -o and no positional arguments")
	}
	if *compress != "gzip" && *compress != "none" {
		return fmt.Errorf("-compress %q: use gzip or none", *compress)
	}
	var s spec
	s.bases = bases
	for _, group := range []struct {
		name string
		in   listFlag
		dst  *[][2]string
	}{{"file", files, &s.files}, {"tree", trees, &s.trees}, {"symlink", links, &s.symlinks}} {
		for _, v := range group.in {
			a, b, err := splitPair(group.name, v)
			if err != nil {
				return err
			}
			*group.dst = append(*group.dst, [2]string{a, b})
		}
	}
	var raw, packed int64
	err := writeIfChanged(*out, 0o644, func(w io.Writer) error {
		cw := &counter{w: w}
		if *compress == "none" {
			if err := writeSpec(cw, s); err != nil {
				return err
			}
			raw, packed = cw.n, cw.n
			return nil
		}
		zw, err := gzip.NewWriterLevel(cw, gzip.DefaultCompression)
		if err != nil {
			return err
		}
		rw := &counter{w: zw}
		if err := writeSpec(rw, s); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		raw, packed = rw.n, cw.n
		return nil
	})
	if err != nil {
		return err
	}
	if *compress == "none" {
		fmt.Printf("initramfs %s: %.1f MiB of archive, uncompressed\n", *out, mib(raw))
		return nil
	}
	fmt.Printf("initramfs %s: %.1f MiB of archive, %.1f MiB compressed\n", *out, mib(raw), mib(packed))
	return nil
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// writeSpec writes the base archives, then one archive with the skeleton and
// the spec's files.
func writeSpec(w io.Writer, s spec) error {
	var written int64
	for _, b := range s.bases {
		f, err := os.Open(b)
		if err != nil {
			return fmt.Errorf("base archive: %w", err)
		}
		n, err := io.Copy(w, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("copy base archive %s: %w", b, err)
		}
		written += n
	}
	// The kernel wants each archive to start 4-byte aligned.
	if pad := (4 - written%4) % 4; pad != 0 {
		if _, err := w.Write(make([]byte, pad)); err != nil {
			return err
		}
	}
	cw := cpio.NewWriter(w)
	if err := skeleton(cw); err != nil {
		return err
	}
	for _, f := range s.files {
		if err := addFile(cw, f[0], f[1]); err != nil {
			return err
		}
	}
	for _, t := range s.trees {
		if err := addTree(cw, t[0], t[1]); err != nil {
			return err
		}
	}
	for _, l := range s.symlinks {
		if err := cw.Symlink(l[0], l[1]); err != nil {
			return err
		}
	}
	return cw.Close()
}

// skeleton adds what the kernel and gonest-init expect before anything is
// mounted: a console to open as fds 0-2 and the mount points.
func skeleton(cw *cpio.Writer) error {
	if err := cw.CharDev("dev/console", 0o600, 5, 1); err != nil { // /dev/console is char 5:1
		return err
	}
	for _, d := range []struct {
		name string
		perm uint32
	}{{"proc", 0o555}, {"sys", 0o555}, {"tmp", 0o1777}, {"run", 0o755}, {"root", 0o700}} {
		if err := cw.Dir(d.name, d.perm); err != nil {
			return err
		}
	}
	return nil
}

func addFile(cw *cpio.Writer, src, dst string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", src)
	}
	return cw.FileFrom(dst, uint32(st.Mode().Perm()), st.Size(), f)
}

func addTree(cw *cpio.Writer, src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := path.Join(dst, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return cw.Dir(target, uint32(info.Mode().Perm()))
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return cw.Symlink(target, link)
		case info.Mode().IsRegular():
			return addFile(cw, p, target)
		}
		return fmt.Errorf("%s: cannot pack file of mode %v", p, info.Mode())
	})
}
