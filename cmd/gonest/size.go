package main

import (
	"fmt"
	"strconv"
	"strings"
)

// parseSize parses a memory size such as "512M", "2G", "1536MiB" or "1024"
// (a bare number means MiB, as in QEMU's -m). It returns bytes.
func parseSize(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty size")
	}
	shift := uint(20)
	// A unit letter, optionally followed by "i", "iB" or "B": 512M, 512Mi,
	// 512MiB and 512MB all mean 512 MiB, as in QEMU.
	u := strings.TrimSuffix(strings.TrimSuffix(t, "B"), "b")
	u = strings.TrimSuffix(u, "i")
	if u != "" {
		switch u[len(u)-1] {
		case 'k', 'K':
			shift, t = 10, u[:len(u)-1]
		case 'm', 'M':
			shift, t = 20, u[:len(u)-1]
		case 'g', 'G':
			shift, t = 30, u[:len(u)-1]
		case 't', 'T':
			shift, t = 40, u[:len(u)-1]
		}
	}
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
