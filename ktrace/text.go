package ktrace

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// A line of the trace file (kernel/trace/trace_output.c):
//
//	CPU 0/KVM-431     [000] d..2.   123.456789: kvm_exit: vcpu 0 reason io rip 0x...
//
// The task name may hold spaces, so the line is found by its timestamp and
// event name: "<seconds>.<micros>: <event>: <body>".
var traceLineRE = regexp.MustCompile(`\s(\d+\.\d+): (\w+): (.*)$`)

// entriesRE matches the header line that says how many events the buffer
// holds and how many were written: the difference is what was overwritten.
var entriesRE = regexp.MustCompile(`^# entries-in-buffer/entries-written: (\d+)/(\d+)`)

// textCount is what countText found in a trace file.
type textCount struct {
	// counts[event][reason] is how many lines of event had that reason; an
	// event without a reason (kvm_nested_vmenter) counts under its ISA's
	// name ("SVM", "VMX").
	counts map[string]map[string]uint64
	isa    map[string]ISA // reason name → ISA, where the line tells
	lost   uint64         // entries-written minus entries-in-buffer
}

// countText counts the lines of the events in want, by exit reason.
func countText(r io.Reader, want map[string]bool) (*textCount, error) {
	tc := &textCount{counts: map[string]map[string]uint64{}, isa: map[string]ISA{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			if m := entriesRE.FindStringSubmatch(line); m != nil {
				in, _ := strconv.ParseUint(m[1], 10, 64)
				written, _ := strconv.ParseUint(m[2], 10, 64)
				if written > in {
					tc.lost = written - in
				}
			}
			continue
		}
		event, body, ok := parseTraceLine(line)
		if !ok || !want[event] {
			continue
		}
		reason, isa := lineReason(event, body)
		if tc.counts[event] == nil {
			tc.counts[event] = map[string]uint64{}
		}
		tc.counts[event][reason]++
		if isa != ISAUnknown {
			tc.isa[reason] = isa
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read trace: %w", err)
	}
	return tc, nil
}

// parseTraceLine splits a trace line into its event name and the event's
// own text.
func parseTraceLine(line string) (event, body string, ok bool) {
	m := traceLineRE.FindStringSubmatch(line)
	if m == nil {
		return "", "", false
	}
	return m[2], m[3], true
}

// lineReason finds the exit reason in an event's text, as printed by the
// TP_printk formats of arch/x86/kvm/trace.h:
//
//	kvm_exit, kvm_nested_vmexit: "vcpu 0 reason io rip 0x... info1 ..."
//	kvm_nested_vmexit_inject:    "reason: io ext_inf1: 0x... ..."
//	kvm_nested_vmenter:          "rip: 0x... vmcb: 0x... ..." (vmcs: on VMX)
//	kvm_msr:                     "msr_write 48 = 0x0" (the MSR, as MSRAccessName names it)
//
// A VMX reason may carry flags after a space ("INVALID_STATE
// FAILED_VMENTRY"), so the reason runs up to the next field's name.
func lineReason(event, body string) (string, ISA) {
	var after, until string
	switch event {
	case MSREvent:
		if name, ok := msrLineName(body); ok {
			return name, ISAUnknown
		}
		return "?", ISAUnknown
	case "kvm_nested_vmexit_inject":
		after, until = "reason: ", " ext_inf1:"
	case "kvm_nested_vmenter":
		switch {
		case strings.Contains(body, " vmcs: "):
			return ISAVMX.String(), ISAVMX
		case strings.Contains(body, " vmcb: "):
			return ISASVM.String(), ISASVM
		}
		return ISAUnknown.String(), ISAUnknown
	default:
		after, until = " reason ", " rip "
		body = " " + body
	}
	i := strings.Index(body, after)
	if i < 0 {
		return "?", ISAUnknown
	}
	rest := body[i+len(after):]
	if j := strings.Index(rest, until); j >= 0 {
		rest = rest[:j]
	}
	return rest, reasonISA(rest)
}
