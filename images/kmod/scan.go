package kmod

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// Compressed module files: kernels built with CONFIG_MODULE_COMPRESS_*
// install each module as its .ko inside one of these (Debian's 6.12 uses
// xz). The images pipeline stores them uncompressed, as Path says.
var compressedSuffixes = []string{".ko.xz", ".ko.zst", ".ko.gz"}

// File is a module opened for reading: the ELF .ko, uncompressed.
type File interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// Opener opens the module file at path (named .ko, or .ko.xz, .ko.zst,
// .ko.gz when compressed) as its uncompressed ELF. OpenPlain opens plain
// files only; package modfile adds the decompressors.
type Opener func(path string) (File, error)

// ErrCompressed is OpenPlain's answer for a compressed module file.
var ErrCompressed = errors.New("module file is compressed; open it with modfile.Open")

// OpenPlain opens an uncompressed .ko file.
func OpenPlain(path string) (File, error) {
	if CompressionOf(path) != "" {
		return nil, fmt.Errorf("%s: %w", path, ErrCompressed)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return plainFile{f, st.Size()}, nil
}

type plainFile struct {
	*os.File
	size int64
}

func (p plainFile) Size() int64 { return p.size }

// CompressionOf returns the compression suffix of a module file name
// (".xz", ".zst", ".gz"), or "" for a plain .ko.
func CompressionOf(name string) string {
	for _, s := range compressedSuffixes {
		if strings.HasSuffix(name, s) {
			return strings.TrimPrefix(s, ".ko")
		}
	}
	return ""
}

// isModuleFile accepts the names a module file can have.
func isModuleFile(name string) bool {
	return strings.HasSuffix(name, ".ko") || CompressionOf(name) != ""
}

// ScanTree indexes every module file under dir (an unpacked
// lib/modules/<release>), plain or compressed, by reading its .modinfo
// section through open (nil means OpenPlain), and reads the built-in
// modules from modules.builtin and modules.builtin.modinfo when the tree
// has them. A compressed module's Path is its uncompressed name and its Src
// the file found.
func ScanTree(dir string, open Opener) (*Index, error) {
	if open == nil {
		open = OpenPlain
	}
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && isModuleFile(d.Name()) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan modules in %s: %w", dir, err)
	}
	// Uncompressing is the slow part (Debian 6.12's 4,230 .ko.xz files hold
	// 483 MiB), so the files are read in parallel and added in walk order.
	infos, err := readModInfos(open, files)
	if err != nil {
		return nil, fmt.Errorf("scan modules in %s: %w", dir, err)
	}
	ix := NewIndex()
	for i, path := range files {
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return nil, err
		}
		mi := infos[i]
		m := Module{Name: mi.Name, Path: filepath.ToSlash(rel), Depends: mi.Depends, SoftPre: mi.SoftPre, Aliases: mi.Aliases}
		if c := CompressionOf(m.Path); c != "" {
			m.Src, m.Path = m.Path, strings.TrimSuffix(m.Path, c)
		}
		if err := ix.Add(m); err != nil {
			return nil, fmt.Errorf("scan modules in %s: %w", dir, err)
		}
	}
	if err := ix.readBuiltinFiles(dir); err != nil {
		return nil, err
	}
	if ix.Len() == 0 && ix.BuiltinCount() == 0 {
		return nil, fmt.Errorf("scan modules in %s: no *.ko files and no %s; is it a lib/modules/<release> directory?", dir, BuiltinFile)
	}
	return ix, nil
}

// readBuiltinFiles reads dir's modules.builtin and, with it,
// modules.builtin.modinfo; a tree without them has no built-in modules.
func (ix *Index) readBuiltinFiles(dir string) error {
	f, err := os.Open(filepath.Join(dir, BuiltinFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("open built-in module list: %w", err)
	}
	defer f.Close()
	if err := ix.ReadBuiltin(f); err != nil {
		return err
	}
	info, err := os.ReadFile(filepath.Join(dir, BuiltinModinfoFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("read built-in module info: %w", err)
	}
	return ix.ReadBuiltinModinfo(info)
}

// readModInfos reads the .modinfo of each file, GOMAXPROCS at a time, and
// returns them in the order of files; the first error wins.
func readModInfos(open Opener, files []string) ([]ModInfo, error) {
	infos := make([]ModInfo, len(files))
	errs := make([]error, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				infos[i], errs[i] = readModInfoFile(open, files[i])
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return infos, nil
}

func readModInfoFile(open Opener, path string) (ModInfo, error) {
	f, err := open(path)
	if err != nil {
		return ModInfo{}, err
	}
	defer f.Close()
	mi, err := ReadModInfo(f)
	if err != nil {
		return ModInfo{}, fmt.Errorf("%s: %w", path, err)
	}
	return mi, nil
}
