package ktrace

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// NestedEvents are the KVM events that tell who handled a nested guest's
// exit, all from arch/x86/kvm/trace.h:
//
//   - kvm_exit: every exit of every vCPU of this KVM, whatever level was
//     running (svm_handle_exit in svm/svm.c, vmx_vcpu_run in vmx/vmx.c);
//   - kvm_nested_vmexit: the subset taken while the vCPU was in guest mode,
//     that is while G1 ran its own guest (svm_handle_exit,
//     nested_vmx_reflect_vmexit in vmx/nested.c);
//   - kvm_nested_vmexit_inject: exits this KVM reflected into G1, which
//     then sees its VMRUN or VMRESUME return (nested_svm_vmexit in
//     svm/nested.c, nested_vmx_vmexit in vmx/nested.c);
//   - kvm_nested_vmenter: G1's VMRUN or VMLAUNCH/VMRESUME, emulated
//     (enter_svm_guest_mode, nested_vmx_enter_non_root_mode).
//
// The four have the same fields in Linux 6.1 and 6.12.
var NestedEvents = []string{"kvm_exit", "kvm_nested_vmexit", "kvm_nested_vmexit_inject", "kvm_nested_vmenter"}

// MSREvent is kvm_msr (arch/x86/kvm/trace.h): one RDMSR or WRMSR that this
// KVM emulated, with its index (ecx) and direction (kvm_emulate_rdmsr,
// kvm_emulate_wrmsr and the WRMSR fast path in x86.c). Counted by index,
// it names the MSRs behind G1's msr exits.
const MSREvent = "kvm_msr"

// DefaultEvents are what a session counts when Options.Events is nil:
// NestedEvents and MSREvent.
func DefaultEvents() []string { return append(append([]string(nil), NestedEvents...), MSREvent) }

// Roots are where tracefs is found: its own mount point, and the one
// debugfs mounts automatically under itself (Documentation/trace/ftrace.rst).
var Roots = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

// Method is how a session counts events.
type Method string

// The methods.
const (
	// MethodHist installs a hist trigger per event, which counts by key
	// inside the kernel (CONFIG_HIST_TRIGGERS): nothing is written to the
	// ring buffer and nothing is read until the snapshot.
	MethodHist Method = "hist"
	// MethodBuffer enables the events into the ring buffer and counts the
	// lines of the trace file at the snapshot. Events the buffer could not
	// hold are reported as dropped.
	MethodBuffer Method = "buffer"
)

// Options configure Open.
type Options struct {
	// Root is the tracefs mount; empty tries Roots in order.
	Root string
	// Instance names the trace instance (instances/NAME) the session
	// creates, so that it never touches the global buffer or another
	// tool's triggers; empty means "gonest-<pid>". UseTopLevel uses the
	// top-level instance instead (kernels without instances, and tests).
	Instance    string
	UseTopLevel bool
	// Events to count; nil means DefaultEvents.
	Events []string
	// Method forces a method; empty picks hist where the kernel has it.
	Method Method
	// BufferKB is the per-CPU ring buffer size for MethodBuffer
	// (default 8192).
	BufferKB int
}

// Session counts KVM events between Start and Stop.
type Session struct {
	dir      string // the instance's directory
	instance bool   // dir was created by Open and is removed by Close
	method   Method
	events   []*eventState
}

// eventState is one event of a session.
type eventState struct {
	name    string
	dir     string // events/kvm/NAME
	format  *Format
	keys    string       // hist keys: "exit_reason,isa", "exit_code,isa", "isa" or "ecx,write"
	reason  string       // why it is unavailable; "" when counted
	trigger string       // the installed hist trigger, without :pause etc.
	names   reasonTables // from the event's print fmt, where it has them
}

// FindRoot returns the first of roots that holds a usable tracefs.
func FindRoot(roots []string) (string, error) {
	var tried []string
	for _, r := range roots {
		if st, err := os.Stat(filepath.Join(r, "events")); err == nil && st.IsDir() {
			return r, nil
		}
		tried = append(tried, r)
	}
	return "", fmt.Errorf("no tracefs at %s: mount it (mount -t tracefs nodev /sys/kernel/tracing) or debugfs", strings.Join(tried, " or "))
}

// Open prepares counting the events: it finds tracefs (mounting it at
// /sys/kernel/tracing when no root was given and none is mounted), creates the
// instance, reads each event's format and installs paused hist triggers
// (or enables the events into a stopped buffer). An event that does not
// exist (kvm not loaded, or an older kernel) is marked unavailable, and
// the others are still counted; Open fails only when tracefs itself is
// unusable.
func Open(o Options) (*Session, error) {
	root := o.Root
	if root == "" {
		var err error
		if root, err = FindRoot(Roots); err != nil {
			// Mount it where it belongs, as trace-cmd and perf do;
			// without CAP_SYS_ADMIN this fails and says so.
			if merr := unix.Mount("nodev", Roots[0], "tracefs", 0, ""); merr != nil {
				return nil, fmt.Errorf("%w (mounting tracefs there: %v)", err, merr)
			}
			if root, err = FindRoot(Roots[:1]); err != nil {
				return nil, err
			}
		}
	}
	if _, err := FindRoot([]string{root}); err != nil {
		return nil, err
	}
	s := &Session{dir: root}
	if !o.UseTopLevel {
		name := o.Instance
		if name == "" {
			name = fmt.Sprintf("gonest-%d", os.Getpid())
		}
		if strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
			return nil, fmt.Errorf("trace instance name %q is not a plain name", name)
		}
		dir := filepath.Join(root, "instances", name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create trace instance: %w", err)
		}
		s.dir, s.instance = dir, true
	}
	events := o.Events
	if events == nil {
		events = DefaultEvents()
	}
	s.method = o.Method
	if s.method == "" {
		s.method = MethodBuffer
		for _, name := range events {
			if _, err := os.Stat(filepath.Join(s.dir, "events", "kvm", name, "hist")); err == nil {
				s.method = MethodHist
				break
			}
		}
	}
	for _, name := range events {
		s.events = append(s.events, s.prepare(name))
	}
	if err := s.arm(o.BufferKB); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// prepare reads one event's format and picks its hist keys.
func (s *Session) prepare(name string) *eventState {
	e := &eventState{name: name, dir: filepath.Join(s.dir, "events", "kvm", name)}
	text, err := os.ReadFile(filepath.Join(e.dir, "format"))
	if err != nil {
		e.reason = fmt.Sprintf("no event kvm:%s (%v): is kvm loaded?", name, errors.Unwrap(err))
		if errors.Is(err, os.ErrNotExist) {
			e.reason = fmt.Sprintf("no event kvm:%s in this kernel (is kvm loaded?)", name)
		}
		return e
	}
	if e.format, err = ParseFormat(string(text)); err != nil {
		e.reason = err.Error()
		return e
	}
	if vmx, svm, ok := e.format.ReasonTables(); ok {
		e.names = reasonTables{vmx: vmx, svm: svm}
	}
	if e.format.Has("ecx") && e.format.Has("write") { // kvm_msr
		e.keys = "ecx,write"
		return e
	}
	var keys []string
	for _, k := range []string{"exit_reason", "exit_code"} {
		if e.format.Has(k) {
			keys = append(keys, k)
			break
		}
	}
	if e.format.Has("isa") {
		keys = append(keys, "isa")
	}
	if len(keys) == 0 {
		keys = []string{"common_type"}
	}
	e.keys = strings.Join(keys, ",")
	return e
}

// arm installs the paused triggers, or enables the events into a stopped
// buffer.
func (s *Session) arm(bufferKB int) error {
	if s.method == MethodBuffer && s.counting() {
		if bufferKB <= 0 {
			bufferKB = 8192
		}
		if err := writeFile(filepath.Join(s.dir, "tracing_on"), "0"); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(s.dir, "buffer_size_kb"), fmt.Sprint(bufferKB)); err != nil {
			return err
		}
	}
	for _, e := range s.events {
		if e.reason != "" {
			continue
		}
		var err error
		switch s.method {
		case MethodHist:
			e.trigger = "hist:keys=" + e.keys
			err = appendFile(filepath.Join(e.dir, "trigger"), e.trigger+":pause")
		case MethodBuffer:
			err = writeFile(filepath.Join(e.dir, "enable"), "1")
		default:
			return fmt.Errorf("unknown trace method %q", s.method)
		}
		if err != nil {
			e.reason = err.Error()
			e.trigger = ""
		}
	}
	return nil
}

// counting reports whether any event is available.
func (s *Session) counting() bool {
	for _, e := range s.events {
		if e.reason == "" {
			return true
		}
	}
	return false
}

// Method says how the session counts.
func (s *Session) Method() Method { return s.method }

// Start clears the counts and starts counting.
func (s *Session) Start() error {
	if !s.counting() {
		return nil
	}
	if s.method == MethodBuffer {
		if err := truncate(filepath.Join(s.dir, "trace")); err != nil {
			return err
		}
		return writeFile(filepath.Join(s.dir, "tracing_on"), "1")
	}
	return s.each(":clear", ":cont")
}

// Stop stops counting; Snapshot still reads what was counted.
func (s *Session) Stop() error {
	if !s.counting() {
		return nil
	}
	if s.method == MethodBuffer {
		return writeFile(filepath.Join(s.dir, "tracing_on"), "0")
	}
	return s.each(":pause")
}

// each appends trigger+cmd to every installed trigger, for each cmd.
func (s *Session) each(cmds ...string) error {
	var errs []error
	for _, e := range s.events {
		if e.trigger == "" {
			continue
		}
		for _, c := range cmds {
			if err := appendFile(filepath.Join(e.dir, "trigger"), e.trigger+c); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Snapshot reads the counts.
func (s *Session) Snapshot() (*Counts, error) {
	c := &Counts{Method: s.method}
	if s.method == MethodBuffer && s.counting() {
		return c, s.snapshotBuffer(c)
	}
	for _, e := range s.events {
		ec := EventCount{Event: e.name}
		if e.trigger == "" {
			ec.Unavailable = e.reason
			c.Events = append(c.Events, ec)
			continue
		}
		text, err := os.ReadFile(filepath.Join(e.dir, "hist"))
		if err == nil {
			err = ec.fromHist(string(text), e.keys, e.names)
		}
		if err != nil {
			ec = EventCount{Event: e.name, Unavailable: err.Error()}
		}
		c.Events = append(c.Events, ec)
	}
	return c, nil
}

// fromHist fills ec from a hist file whose first key is the exit code
// (or none, for keys=isa).
func (ec *EventCount) fromHist(text, keys string, names reasonTables) error {
	h, err := ParseHist(text)
	if err != nil {
		return err
	}
	ec.Total, ec.Dropped = h.Hits, h.Dropped
	codeKey, _, _ := strings.Cut(keys, ",")
	for _, en := range h.Entries {
		isa := ISA(en.Keys["isa"])
		r := ReasonCount{ISA: isa, Count: en.Hitcount}
		if ecx, ok := en.Keys["ecx"]; ok && codeKey == "ecx" {
			r.Code, r.HasCode = uint32(ecx), true
			r.Name = MSRAccessName(en.Keys["write"] != 0, r.Code)
		} else if code, ok := en.Keys[codeKey]; ok && codeKey != "isa" && codeKey != "common_type" {
			r.Code, r.HasCode = uint32(code), true
			r.Name = names.name(isa, r.Code)
		} else {
			r.Name = isa.String()
		}
		ec.ByReason = append(ec.ByReason, r)
	}
	ec.sort()
	return nil
}

// snapshotBuffer counts the lines of the trace file.
func (s *Session) snapshotBuffer(c *Counts) error {
	f, err := os.Open(filepath.Join(s.dir, "trace"))
	if err != nil {
		return fmt.Errorf("read trace buffer: %w", err)
	}
	defer f.Close()
	want := map[string]bool{}
	for _, e := range s.events {
		want[e.name] = true
	}
	tc, err := countText(f, want)
	if err != nil {
		return err
	}
	for _, e := range s.events {
		ec := EventCount{Event: e.name, Unavailable: e.reason}
		if e.reason == "" {
			for reason, n := range tc.counts[e.name] {
				ec.Total += n
				ec.ByReason = append(ec.ByReason, ReasonCount{ISA: tc.isa[reason], Name: reason, Count: n})
			}
			ec.sort()
		}
		c.Events = append(c.Events, ec)
	}
	c.Lost = tc.lost
	return nil
}

// Close removes the triggers (or disables the events) and the instance.
func (s *Session) Close() error {
	var errs []error
	for _, e := range s.events {
		switch {
		case e.trigger != "":
			if err := appendFile(filepath.Join(e.dir, "trigger"), "!"+e.trigger); err != nil {
				errs = append(errs, err)
			}
			e.trigger = ""
		case s.method == MethodBuffer && e.reason == "":
			if err := writeFile(filepath.Join(e.dir, "enable"), "0"); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if s.instance {
		if err := os.Remove(s.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove trace instance: %w", err))
		}
		s.instance = false
	}
	return errors.Join(errs...)
}

// writeFile writes s to a tracefs control file, replacing what it says.
func writeFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("tracefs: %w", err)
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return fmt.Errorf("tracefs: write %q to %s: %w", s, path, err)
	}
	return f.Close()
}

// appendFile writes s to a trigger file without O_TRUNC, which would
// remove every trigger of the event (event_trigger_regex_open in
// kernel/trace/trace_events_trigger.c).
func appendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("tracefs: %w", err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("tracefs: write %q to %s: %w", s, path, err)
	}
	return f.Close()
}

// truncate empties the trace buffer (opening trace with O_TRUNC clears it).
func truncate(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("tracefs: clear buffer: %w", err)
	}
	return f.Close()
}

// sortReasons orders by count, then name.
func sortReasons(r []ReasonCount) {
	sort.Slice(r, func(i, j int) bool {
		if r[i].Count != r[j].Count {
			return r[i].Count > r[j].Count
		}
		return r[i].Name < r[j].Name
	})
}
