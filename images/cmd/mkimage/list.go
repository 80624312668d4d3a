package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/gonest/gonest/images/cpio"
)

// maxEntry bounds one entry of a listed archive.
const maxEntry = 1 << 30

func runList(args []string) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("need one file")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	return list(os.Stdout, f)
}

// list prints "mode size name" for every entry of a plain or gzip archive.
func list(w io.Writer, r io.Reader) error {
	br := bufio.NewReader(r)
	in := io.Reader(br)
	if head, err := br.Peek(2); err == nil && bytes.Equal(head, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer zr.Close()
		in = zr
	}
	cr := cpio.NewReader(in, maxEntry)
	for {
		e, err := cr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if e.IsTrailer {
			continue
		}
		line := fmt.Sprintf("%06o %10d %s", e.Mode, e.Size, e.Name)
		if e.Mode&cpio.ModeType == cpio.ModeSymlink {
			line += " -> " + string(e.Data)
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
}
