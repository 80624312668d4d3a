package bench

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// FSHelper is the guest side of the file system benchmark (the bench
// image's init called as FSHelperName): args are a tree and a file. It
// walks the tree as find does and lstats every entry as stat does, then
// reads the file sequentially 1 MiB at a time, and prints one line:
// "entries=N walk_s=S bytes=B read_s=S". Its progress goes to stderr,
// every fshelperProgress entries, for a run that does not finish in time.
// It returns the exit status.
func FSHelper(args []string) int {
	if len(args) != 2 {
		fmt.Fprintf(os.Stderr, "usage: %s TREE FILE\n", FSHelperName)
		return 2
	}
	start := time.Now()
	entries := 0
	err := filepath.WalkDir(args[0], func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if _, err := os.Lstat(p); err != nil {
			return err
		}
		entries++
		if entries%fshelperProgress == 0 {
			fmt.Fprintf(os.Stderr, "%d entries in %.1f s\n", entries, time.Since(start).Seconds())
		}
		return nil
	})
	walk := time.Since(start)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "walked %d entries in %.1f s; reading %s\n", entries, walk.Seconds(), args[1])
	start = time.Now()
	f, err := os.Open(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer f.Close()
	n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, make([]byte, 1<<20))
	read := time.Since(start)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("entries=%d walk_s=%.4f bytes=%d read_s=%.4f\n", entries, walk.Seconds(), n, read.Seconds())
	return 0
}

// fshelperProgress is how many entries FSHelper walks between two lines
// of progress.
const fshelperProgress = 1000

// fsFigures is one FSHelper line.
type fsFigures struct {
	entries, bytes float64
	walk, read     float64 // seconds
}

func (f fsFigures) filesPerSec() float64 { return f.entries / f.walk }
func (f fsFigures) mbPerSec() float64    { return f.bytes / 1e6 / f.read }

// parseFS reads an FSHelper line.
func parseFS(line string) (fsFigures, error) {
	var f fsFigures
	seen := 0
	for _, field := range strings.Fields(line) {
		k, v, ok := strings.Cut(field, "=")
		if !ok {
			continue
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || x < 0 {
			return f, fmt.Errorf("bench-exec-fs line %q: %s is not a number", line, field)
		}
		switch k {
		case "entries":
			f.entries = x
		case "walk_s":
			f.walk = x
		case "bytes":
			f.bytes = x
		case "read_s":
			f.read = x
		default:
			continue
		}
		seen++
	}
	if seen != 4 || f.walk == 0 || f.read == 0 {
		return f, errors.New("bench-exec-fs printed " + strconv.Quote(line) + ", want entries=N walk_s=S bytes=B read_s=S")
	}
	return f, nil
}
