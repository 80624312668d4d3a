package main

import (
	"fmt"
	"strconv"
	"strings"
)

// parseSize parses a memory size such as "512M", "2G", "1536m" or "1024"
// (a bare number means MiB, as in QEMU's -m). It returns bytes.
func parseSize(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty size")
	}
	shift := uint(20)
	switch t[len(t)-1] {
	case 'k', 'K':
		shift, t = 10, t[:len(t)-1]
	case 'm', 'M':
		shift, t = 20, t[:len(t)-1]
	case 'g', 'G':
		shift, t = 30, t[:len(t)-1]
	case 't', 'T':
		shift, t = 40, t[:len(t)-1]
	}
	t = strings.TrimSuffix(strings.TrimSuffix(t, "i"), "I")
	n, err := strconv.ParseUint(t, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (use a number with an optional K, M, G or T suffix, e.g. 512M)", s)
	}
	if n == 0 {
		return 0, fmt.Errorf("size %q is zero", s)
	}
	if n > (1<<63)>>shift {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n << shift, nil
}

// formatSize renders bytes the way users type them.
func formatSize(n uint64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dG", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dM", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dK", n>>10)
	}
	return fmt.Sprintf("%d", n)
}
