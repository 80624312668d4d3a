package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/gonest/gonest/machine"
)

// FuzzParseSize feeds arbitrary -m values to parseSize: it must never
// panic, an error is one line, and an accepted size is positive, fits in 63
// bits and survives machine.FormatSize and parseSize again.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"512M", "2G", "1536m", "1024", "64k", "1T", "0", "-5", "12Q", "", " 8G ", "4Gi",
		"18446744073709551615", "9223372036854775807K", "8388608T", "1\n2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("parseSize(%q): error %q is not one line", s, err)
			}
			return
		}
		if n == 0 || n > 1<<63 {
			t.Fatalf("parseSize(%q) = %d: want 1..2^63", s, n)
		}
		again, err := parseSize(machine.FormatSize(n))
		if err != nil || again != n {
			t.Fatalf("parseSize(%q) = %d, formatSize = %q, parsed again = %d, %v", s, n, machine.FormatSize(n), again, err)
		}
	})
}

// FuzzParseRunFlags feeds arbitrary command lines (arguments separated by
// NUL bytes) to gonest run's flag parser: it must never panic, an error is
// one line, and accepted options satisfy what the rest of gonest assumes.
func FuzzParseRunFlags(f *testing.F) {
	for _, args := range [][]string{
		{"-kernel", "vmlinuz"},
		{"-kernel", "vmlinuz", "-initrd", "g1.cpio", "-m", "1G", "-smp", "2", "-append", "quiet"},
		{"-kernel=k", "-timeout", "5m", "-disk", "data.img", "-disk", "base.img,ro,serial=base"},
		{"-kernel", "k", "-nested", "off", "-stats", "-stats-json", "-", "-nested-state", "-v"},
		{"-kernel", "k", "-m", "12Q"},
		{"-kernel", "k", "-smp", "-1", "-timeout", "-5s"},
		{"-kernel", "k", "-disk", "x,rw=5"},
		{"-kernel", "k", "stray"},
		{"--kernel", "k", "-h"},
		{"-kernel", "k", "-bogus\nsecond line"},
		{"-kernel", "k", "-stats-json", "k"},
		{"-kernel", "k", "-disk", "d", "-disk", "d,ro"},
		{"-kernel", "k", "-window", "+1 scenario start..+1 scenario end", "-trace-exits", "-nested-state-at", "30s"},
		{"-kernel", "k", "-window", "..", "-nested-state-at", "-3s"},
		{"-kernel", "k", "-fs", ".,tag=work", "-fs", "/usr,tag=usr,ro"},
		{"-kernel", "k", "-fs", ".,tag=a", "-fs", "..,tag=a"},
		{"-kernel", "k", "-fs", ".", "-fs", ".,tag=x,rw"},
		{"-kernel", "k", "-port", "log,out=fd:2", "-port", "data,in=k"},
		{"-kernel", "k", "-port", "a,out=x", "-port", "b,out=./x", "-port", "c,in=fd:0"},
	} {
		f.Add(strings.Join(args, "\x00"))
	}
	f.Fuzz(func(t *testing.T, line string) {
		var args []string
		if line != "" {
			args = strings.Split(line, "\x00")
		}
		o, err := parseRunFlags(args, io.Discard)
		if err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return
			}
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Fatalf("parseRunFlags(%q): error %v is %T, not a usage error (exit 2)", args, err, err)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("parseRunFlags(%q): error %q is not one line", args, err)
			}
			return
		}
		switch {
		case o.cfg.Kernel == "":
			t.Fatalf("parseRunFlags(%q): accepted without -kernel", args)
		case o.cfg.Timeout < 0:
			t.Fatalf("parseRunFlags(%q): negative timeout %v", args, o.cfg.Timeout)
		case o.cfg.MemSize == 0:
			t.Fatalf("parseRunFlags(%q): zero memory", args)
		}
		for _, d := range o.cfg.Disks {
			if d.Path == "" {
				t.Fatalf("parseRunFlags(%q): disk with an empty path", args)
			}
		}
		for _, s := range o.cfg.Shares {
			if s.Dir == "" || s.Tag == "" {
				t.Fatalf("parseRunFlags(%q): share %+v without a directory or tag", args, s)
			}
		}
		for _, p := range o.ports {
			if p.Name == "" || p.In == "fd:0" {
				t.Fatalf("parseRunFlags(%q): port %+v", args, p)
			}
		}
	})
}
