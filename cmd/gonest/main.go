// Command gonest is a small KVM hypervisor for learning and testing nested
// virtualization.
//
//	gonest run -kernel bzImage -initrd initramfs.cpio   boot a Linux guest
//	gonest exec -- CMD [ARGS...]                        run a command in a VM
//	gonest doctor                                       can this host nest?
//	gonest version
//
// Started as /init with PID 1 (the initramfs gonest exec builds), it is
// the exec guest's init instead (package vmexec/execinit).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"

	"github.com/gonest/gonest/machine"
	"github.com/gonest/gonest/vmexec"
	"github.com/gonest/gonest/vmexec/execinit"
)

// usageError is a bad invocation: gonest prints it on one line and exits 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: singleLine(fmt.Sprintf(format, args...))}
}

// singleLine escapes control characters (a newline in an argument, say),
// so that a message about a bad invocation stays one line.
func singleLine(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

const topUsage = `gonest: a small KVM hypervisor for nested virtualization

Usage:
  gonest run -kernel PATH [-initrd PATH] [flags]   boot a Linux guest (gonest run -h)
  gonest exec [flags] -- CMD [ARGS...]             run CMD in a VM with this host's files (gonest exec -h)
  gonest doctor [-json]                            say whether this host can run nested guests
  gonest version                                   print the version

Exit codes: 0 guest powered off, N guest wrote N to the exit port (0xf4),
1 guest crashed or VMM error, 2 bad input, 124 -timeout, 130/143 SIGINT/SIGTERM,
129/141 SIGHUP/SIGPIPE.
`

// version is set with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if os.Getpid() == 1 && len(os.Args) > 0 && os.Args[0] == vmexec.InitPath {
		execinit.Main() // never returns
	}
	if len(os.Args) > 1 && os.Args[1] == "run" {
		reexecWithoutHeapTHP()
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without os.Exit, for tests.
func run(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		// A bad invocation gets one line; gonest -h prints the usage.
		fmt.Fprintln(stderr, "gonest: no command given (want run, exec, doctor or version; see gonest -h)")
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdin, stdout, stderr)
	case "exec":
		return cmdExec(args[1:], stdin, stdout, stderr)
	case "doctor":
		return cmdDoctor(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "gonest %s\n", version)
		return 0
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, topUsage)
		return 0
	}
	fmt.Fprintf(stderr, "gonest: unknown command %q (want run, exec, doctor or version; see gonest -h)\n", args[0])
	return 2
}

// parseFlags parses args with fs. The flag package calls Usage on every
// parse error; here the usage text (usage with the flags' defaults in its
// %s) goes to stdout for -h only, which returns flag.ErrHelp, and a bad
// flag is just the error, for one line on stderr.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer, usage string) error {
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		var b strings.Builder
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		fmt.Fprintf(stdout, usage, b.String())
	}
	return err
}

// flagsFailed is what a subcommand returns when its flags did not parse:
// 0 after -h (the usage went to stdout), else the error on one line of
// stderr and exit status 2 (machine.ExitUsage, vmexec.ExitUsage).
func flagsFailed(err error, stderr io.Writer) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, err)
	return machine.ExitUsage
}
