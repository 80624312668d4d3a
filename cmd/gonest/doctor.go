package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/gonest/gonest/doctor"
)

const doctorUsage = `Usage: gonest doctor [-json]

Say whether this host can run nested guests: whether a guest of gonest can
run KVM guests of its own. The first line is the verdict; each line after
it is one check with its status (ok, warn, fail, unavailable) and the
evidence: /dev/kvm, the KVM API version, the KVM module and its nested
parameter, SVM/VMX in KVM's supported CPUID, EPT/NPT, KVM_CAP_NESTED_STATE,
the VMX capability MSRs or SVM features offered to guests, a timing probe
(a tiny guest loop at CPL 0 and CPL 3), and whether this host is itself a
virtual machine.

Flags:
%s
Exit codes: 0 nested virtualization is available; 1 it is not (the report
is still printed); 2 bad flags.

Examples:
  gonest doctor
  gonest doctor -json | jq .can_nest
  gonest doctor >/dev/null && echo "this host can nest"
`

// Exit codes of gonest doctor beyond doctor.Report.ExitCode's 0 and 1.
const doctorExitUsage = 2 // bad flags

func cmdDoctor(args []string, stdout, stderr io.Writer) int {
	return doctorMain(args, stdout, stderr, doctor.ThisHost())
}

// doctorMain is cmdDoctor on a given host, for tests.
func doctorMain(args []string, stdout, stderr io.Writer, host doctor.Host) int {
	fs := flag.NewFlagSet("gonest doctor", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "print one JSON document for tools (verdict, can_nest, backend, checks, vmx, svm, timing) instead of text")
	if err := parseFlags(fs, args, stdout, doctorUsage); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "gonest doctor: %s (see gonest doctor -h)\n", singleLine(err.Error()))
		return doctorExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gonest doctor: unexpected argument %q (the only flag is -json; see gonest doctor -h)\n", fs.Arg(0))
		return doctorExitUsage
	}

	r := doctor.Examine(host)
	write := r.WriteText
	if *asJSON {
		write = r.WriteJSON
	}
	if err := write(stdout); err != nil {
		fmt.Fprintf(stderr, "gonest doctor: write the report: %v\n", err)
		return 1
	}
	return r.ExitCode()
}
