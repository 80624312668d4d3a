package vmexec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Kernel is the kernel gonest exec boots and the modules that go with it.
type Kernel struct {
	Path    string // a bzImage (or an ELF vmlinux)
	Modules string // its lib/modules/<release> directory
	Release string // its release, uname -r in the guest
	// Source says how it was picked, for -v: "-kernel", "the host's
	// running kernel", "the kernel make images fetched".
	Source string
}

// Where FindKernel looks, overridable by tests.
type kernelPlaces struct {
	release     string   // uname -r
	bootDir     string   // /boot
	modulesRoot string   // /lib/modules
	imageDirs   []string // candidate images/out directories, in order
}

// hostPlaces is the running system: uname -r, /boot, /lib/modules and the
// images/out directories of the gonest checkout the binary lives in and
// of the repository around the working directory.
func hostPlaces(exe, cwd string) kernelPlaces {
	var uts unix.Utsname
	release := ""
	if err := unix.Uname(&uts); err == nil {
		release = unix.ByteSliceToString(uts.Release[:])
	}
	p := kernelPlaces{release: release, bootDir: "/boot", modulesRoot: "/lib/modules"}
	if exe != "" {
		// bin/gonest of a checkout: bin/../images/out.
		p.imageDirs = append(p.imageDirs, filepath.Join(filepath.Dir(exe), "..", "images", "out"))
	}
	for d := cwd; d != "" && d != "/" && d != "."; d = filepath.Dir(d) {
		p.imageDirs = append(p.imageDirs, filepath.Join(d, "images", "out"))
	}
	return p
}

// FindKernel picks the kernel: the one given (kernel with modules), else
// the host's running kernel (as virtme-ng does), else the kernel `make
// images` fetched. Its errors are *UsageError: one line that says what to
// do.
func findKernel(kernel, modules string, places kernelPlaces) (Kernel, error) {
	switch {
	case kernel != "":
		return givenKernel(kernel, modules, places)
	case modules != "":
		return Kernel{}, usagef("-modules %s needs -kernel: give the kernel those modules belong to", modules)
	}
	var why []string
	if places.release != "" {
		k := Kernel{
			Path:    filepath.Join(places.bootDir, "vmlinuz-"+places.release),
			Modules: filepath.Join(places.modulesRoot, places.release),
			Release: places.release,
			Source:  "the host's running kernel",
		}
		if err := readable(k.Path); err != nil {
			why = append(why, fmt.Sprintf("the host's kernel %s %s", k.Path, err))
		} else if err := readableDir(k.Modules); err != nil {
			why = append(why, fmt.Sprintf("its modules %s %s", k.Modules, err))
		} else {
			return k, nil
		}
	}
	for _, dir := range places.imageDirs {
		k, err := imagesKernel(dir)
		if err == nil {
			return k, nil
		}
	}
	return Kernel{}, usagef("no kernel to boot: %s, and no kernel from make images (images/out/vmlinuz) next to gonest or above this directory; "+
		"give -kernel PATH -modules DIR, or make the host's kernel readable (sudo chmod 0644 /boot/vmlinuz-*)", strings.Join(why, "; "))
}

// givenKernel checks -kernel and -modules.
func givenKernel(kernel, modules string, places kernelPlaces) (Kernel, error) {
	if err := readable(kernel); err != nil {
		return Kernel{}, usagef("-kernel %s %s", kernel, err)
	}
	release, _ := KernelRelease(kernel)
	if modules == "" {
		// The kernel installed on this host needs no -modules.
		if release != "" {
			if dir := filepath.Join(places.modulesRoot, release); readableDir(dir) == nil {
				return Kernel{Path: kernel, Modules: dir, Release: release, Source: "-kernel"}, nil
			}
		}
		return Kernel{}, usagef("-kernel %s needs -modules DIR, its lib/modules/<release> directory (gonest exec loads virtio and file system modules from it)", kernel)
	}
	if err := readableDir(modules); err != nil {
		return Kernel{}, usagef("-modules %s %s", modules, err)
	}
	abs, err := filepath.Abs(modules)
	if err != nil {
		return Kernel{}, usagef("-modules %s: %v", modules, err)
	}
	dirRelease := filepath.Base(abs)
	if release != "" && release != dirRelease {
		return Kernel{}, usagef("-modules %s is for release %s, but -kernel %s is %s (from its header); give the kernel's own modules",
			modules, dirRelease, kernel, release)
	}
	return Kernel{Path: kernel, Modules: abs, Release: dirRelease, Source: "-kernel"}, nil
}

// imagesKernel finds images/out/vmlinuz and its one modules/<release>.
func imagesKernel(dir string) (Kernel, error) {
	path := filepath.Join(dir, "vmlinuz")
	if err := readable(path); err != nil {
		return Kernel{}, err
	}
	ents, err := os.ReadDir(filepath.Join(dir, "modules"))
	if err != nil {
		return Kernel{}, err
	}
	var releases []string
	for _, e := range ents {
		if e.IsDir() {
			releases = append(releases, e.Name())
		}
	}
	if len(releases) != 1 {
		return Kernel{}, fmt.Errorf("%s/modules holds %d releases, want one", dir, len(releases))
	}
	clean, err := filepath.Abs(dir)
	if err != nil {
		return Kernel{}, err
	}
	return Kernel{
		Path:    filepath.Join(clean, "vmlinuz"),
		Modules: filepath.Join(clean, "modules", releases[0]),
		Release: releases[0],
		Source:  "the kernel make images fetched",
	}, nil
}

// readable says why path is not a readable regular file, or nil.
func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return describeOpenError(err)
	}
	defer f.Close()
	st, err := f.Stat()
	switch {
	case err != nil:
		return err
	case !st.Mode().IsRegular():
		return errors.New("is not a regular file")
	case st.Size() == 0:
		return errors.New("is empty")
	}
	return nil
}

// readableDir says why path is not a directory this user can list.
func readableDir(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return describeOpenError(err)
	}
	if !st.IsDir() {
		return errors.New("is not a directory")
	}
	if err := unix.Access(path, unix.R_OK|unix.X_OK); err != nil {
		return describeOpenError(err)
	}
	return nil
}

func describeOpenError(err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return errors.New("does not exist")
	case errors.Is(err, os.ErrPermission):
		return errors.New("is not readable by this user")
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Setup header fields of a bzImage (Documentation/arch/x86/boot.rst, "The
// real-mode kernel header").
const (
	hdrMagicOffset   = 0x202 // "HdrS"
	hdrVersionOffset = 0x206 // boot protocol version
	hdrKernelVersion = 0x20E // kernel_version: the version string's offset minus 0x200
	versionBase      = 0x200
	maxVersionString = 256
)

// KernelRelease reads a bzImage's release ("6.1.0-57-amd64") from the
// kernel_version string its setup header points at. ok is false for a
// file without one (an ELF vmlinux, a garbled file).
func KernelRelease(path string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	return kernelRelease(f)
}

func kernelRelease(r io.ReaderAt) (string, bool) {
	hdr := make([]byte, hdrKernelVersion+2)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return "", false
	}
	if string(hdr[hdrMagicOffset:hdrMagicOffset+4]) != "HdrS" || binary.LittleEndian.Uint16(hdr[hdrVersionOffset:]) < 0x0200 {
		return "", false
	}
	off := binary.LittleEndian.Uint16(hdr[hdrKernelVersion:])
	if off == 0 {
		return "", false
	}
	buf := make([]byte, maxVersionString)
	n, err := r.ReadAt(buf, int64(off)+versionBase)
	if n == 0 && err != nil {
		return "", false
	}
	buf = buf[:n]
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		buf = buf[:i]
	}
	release, _, _ := strings.Cut(string(buf), " ")
	if release == "" || strings.ContainsFunc(release, func(r rune) bool { return r < 0x21 || r > 0x7e || r == '/' }) {
		return "", false
	}
	return release, true
}
