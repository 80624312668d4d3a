package ktrace

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeTracefs builds a tracefs-shaped directory holding the events of
// kernel's fixtures (all of NestedEvents unless only is given), with hist
// files when hist is true. It returns the root.
func fakeTracefs(t *testing.T, kernel string, hist bool, only ...string) string {
	t.Helper()
	root := t.TempDir()
	events := NestedEvents
	if only != nil {
		events = only
	}
	for _, ev := range events {
		dir := filepath.Join(root, "events", "kvm", ev)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		write(t, filepath.Join(dir, "format"), readFixture(t, kernel, ev+".format"))
		write(t, filepath.Join(dir, "trigger"), "")
		write(t, filepath.Join(dir, "enable"), "0")
		if hist {
			write(t, filepath.Join(dir, "hist"), "")
		}
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "instances"), 0o755))
	for _, f := range []string{"tracing_on", "buffer_size_kb", "trace"} {
		write(t, filepath.Join(root, f), "")
	}
	return root
}

func write(t *testing.T, path, s string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(s), 0o644))
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// histText renders a hist file the way hist_trigger_show prints one.
func histText(keys string, entries [][]uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# event histogram\n#\n# trigger info: hist:keys=%s:vals=hitcount:sort=hitcount:size=2048 [paused]\n#\n\n", keys)
	var hits uint64
	names := strings.Split(keys, ",")
	for _, e := range entries {
		b.WriteString("{ ")
		for i, n := range names {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s: %10d", n, e[i])
		}
		fmt.Fprintf(&b, " } hitcount: %10d\n", e[len(names)])
		hits += e[len(names)]
	}
	fmt.Fprintf(&b, "\nTotals:\n    Hits: %d\n    Entries: %d\n    Dropped: 0\n", hits, len(entries))
	return b.String()
}

func TestSessionHist(t *testing.T) {
	root := fakeTracefs(t, "linux-6.18", true)
	s, err := Open(Options{Root: root, UseTopLevel: true})
	require.NoError(t, err)
	assert.Equal(t, MethodHist, s.Method())
	trig := func(ev string) string { return read(t, filepath.Join(root, "events", "kvm", ev, "trigger")) }
	assert.Equal(t, "hist:keys=exit_reason,isa:pause\n", trig("kvm_exit"))
	assert.Equal(t, "hist:keys=exit_code,isa:pause\n", trig("kvm_nested_vmexit_inject"))
	assert.Equal(t, "hist:keys=isa:pause\n", trig("kvm_nested_vmenter"))

	require.NoError(t, s.Start())
	require.NoError(t, s.Stop())
	assert.Equal(t, "hist:keys=exit_reason,isa:pause\nhist:keys=exit_reason,isa:clear\nhist:keys=exit_reason,isa:cont\nhist:keys=exit_reason,isa:pause\n", trig("kvm_exit"))

	dir := filepath.Join(root, "events", "kvm")
	write(t, filepath.Join(dir, "kvm_exit", "hist"), histText("exit_reason,isa", [][]uint64{{0x7b, 2, 500}, {0x80, 2, 300}, {0x82, 2, 290}, {0x72, 2, 200}}))
	write(t, filepath.Join(dir, "kvm_nested_vmexit", "hist"), histText("exit_reason,isa", [][]uint64{{0x7b, 2, 100}, {0x400, 2, 40}}))
	write(t, filepath.Join(dir, "kvm_nested_vmexit_inject", "hist"), histText("exit_code,isa", [][]uint64{{0x7b, 2, 100}, {0x60, 2, 3}}))
	write(t, filepath.Join(dir, "kvm_nested_vmenter", "hist"), histText("isa", [][]uint64{{2, 103}}))
	c, err := s.Snapshot()
	require.NoError(t, err)
	ex := c.Event("kvm_exit")
	require.NotNil(t, ex)
	assert.Equal(t, uint64(1290), ex.Total)
	assert.Equal(t, ReasonCount{ISA: ISASVM, Code: 0x7b, HasCode: true, Name: "io", Count: 500}, ex.ByReason[0])
	assert.Equal(t, map[string]uint64{"io": 100, "npf": 40}, c.Event("kvm_nested_vmexit").ByName())
	assert.Equal(t, map[string]uint64{"io": 100, "interrupt": 3}, c.Event("kvm_nested_vmexit_inject").ByName())
	assert.Equal(t, map[string]uint64{"SVM": 103}, c.Event("kvm_nested_vmenter").ByName())

	a := c.Attribute()
	// The 3 injected interrupts had no interrupt exit of G2 behind them:
	// L0 made them up for G1.
	assert.Equal(t, Attribution{AllExits: 1290, NestedExits: 140, Injected: 103, Reflected: 100, Synthesized: 3,
		HandledByL0: 40, L1Exits: 1150, Entries: 103, L1ExitsPerInjected: 1150.0 / 103}, a)
	assert.Equal(t, a.NestedExits, a.Reflected+a.HandledByL0)
	assert.Equal(t, a.Injected, a.Reflected+a.Synthesized)

	// A physical interrupt that stopped G2 is L0's own, even when an
	// interrupt for G1 then ended G2's run as an INTR #VMEXIT.
	write(t, filepath.Join(dir, "kvm_nested_vmexit", "hist"), histText("exit_reason,isa", [][]uint64{{0x7b, 2, 100}, {0x60, 2, 5}}))
	c, err = s.Snapshot()
	require.NoError(t, err)
	a = c.Attribute()
	assert.Equal(t, uint64(105), a.NestedExits)
	assert.Equal(t, uint64(100), a.Reflected)
	assert.Equal(t, uint64(5), a.HandledByL0)
	assert.Equal(t, uint64(3), a.Synthesized)
	var tb strings.Builder
	c.WriteTable(&tb)
	assert.Regexp(t, `(?m)^ *interrupt +0 +5 +3 +5 *$`, tb.String(), "the interrupt row: all, while G2 ran, injected, handled by L0")

	require.NoError(t, s.Close())
	assert.True(t, strings.HasSuffix(trig("kvm_exit"), "!hist:keys=exit_reason,isa\n"), "Close removes the trigger")
	require.NoError(t, s.Close(), "a second Close does nothing")
}

func TestSessionBuffer(t *testing.T) {
	root := fakeTracefs(t, "linux-6.18", false)
	s, err := Open(Options{Root: root, UseTopLevel: true, BufferKB: 1024})
	require.NoError(t, err)
	assert.Equal(t, MethodBuffer, s.Method())
	assert.Equal(t, "0", read(t, filepath.Join(root, "tracing_on")))
	assert.Equal(t, "1024", read(t, filepath.Join(root, "buffer_size_kb")))
	assert.Equal(t, "1", read(t, filepath.Join(root, "events", "kvm", "kvm_exit", "enable")))
	write(t, filepath.Join(root, "trace"), "stale lines from before Start\n")
	require.NoError(t, s.Start())
	assert.Empty(t, read(t, filepath.Join(root, "trace")), "Start clears the buffer")
	assert.Equal(t, "1", read(t, filepath.Join(root, "tracing_on")))
	write(t, filepath.Join(root, "trace"), syntheticTrace)
	require.NoError(t, s.Stop())
	assert.Equal(t, "0", read(t, filepath.Join(root, "tracing_on")))
	c, err := s.Snapshot()
	require.NoError(t, err)
	assert.Equal(t, map[string]uint64{"io": 2, "vmrun": 1}, c.Event("kvm_exit").ByName())
	assert.Equal(t, map[string]uint64{"io": 1}, c.Event("kvm_nested_vmexit").ByName())
	assert.Equal(t, map[string]uint64{"io": 1}, c.Event("kvm_nested_vmexit_inject").ByName())
	assert.Equal(t, map[string]uint64{"SVM": 1}, c.Event("kvm_nested_vmenter").ByName())
	assert.Equal(t, uint64(5), c.Lost, "entries written beyond what the buffer holds")
	require.NoError(t, s.Close())
	assert.Equal(t, "0", read(t, filepath.Join(root, "events", "kvm", "kvm_exit", "enable")))
}

// syntheticTrace follows the TP_printk formats of arch/x86/kvm/trace.h.
const syntheticTrace = `# tracer: nop
#
# entries-in-buffer/entries-written: 6/11   #P:1
#
 CPU 0/KVM-431     [000] d..2.   123.000001: kvm_exit: vcpu 0 reason io rip 0x1000 info1 0x0000000000f80010 info2 0x0000000000001002 intr_info 0x00000000 error_code 0x00000000
 CPU 0/KVM-431     [000] d..2.   123.000002: kvm_nested_vmexit: vcpu 0 reason io rip 0x1000 info1 0x0000000000f80010 info2 0x0000000000001002 intr_info 0x00000000 error_code 0x00000000
 CPU 0/KVM-431     [000] d..2.   123.000003: kvm_nested_vmexit_inject: reason: io ext_inf1: 0x0000000000f80010 ext_inf2: 0x0000000000001002 ext_int: 0x00000000 ext_int_err: 0x00000000
 CPU 0/KVM-431     [000] d..2.   123.000004: kvm_exit: vcpu 0 reason io rip 0x2000 info1 0x0000000000f80010 info2 0x0000000000001002 intr_info 0x00000000 error_code 0x00000000
 CPU 0/KVM-431     [000] d..2.   123.000005: kvm_exit: vcpu 0 reason vmrun rip 0x3000 info1 0x0000000000000000 info2 0x0000000000000000 intr_info 0x00000000 error_code 0x00000000
 CPU 0/KVM-431     [000] d..2.   123.000006: kvm_nested_vmenter: rip: 0x0000000000003003 vmcb: 0x0000000001234000 nested_rip: 0x0000000000001000 int_ctl: 0x01000000 event_inj: 0x00000000 nested_npt=y nested_cr3: 0x0000000001000000
`

func TestSessionMissingEvents(t *testing.T) {
	root := fakeTracefs(t, "linux-6.18", true, "kvm_exit")
	s, err := Open(Options{Root: root, UseTopLevel: true})
	require.NoError(t, err, "a missing event is not an error")
	defer s.Close()
	write(t, filepath.Join(root, "events", "kvm", "kvm_exit", "hist"), histText("exit_reason,isa", [][]uint64{{0x72, 2, 7}}))
	c, err := s.Snapshot()
	require.NoError(t, err)
	assert.Equal(t, uint64(7), c.Event("kvm_exit").Total)
	assert.Contains(t, c.Event("kvm_nested_vmexit").Unavailable, "no event kvm:kvm_nested_vmexit in this kernel")
	a := c.Attribute()
	assert.Equal(t, uint64(7), a.AllExits)
	assert.Equal(t, []string{"kvm_nested_vmexit", "kvm_nested_vmexit_inject", "kvm_nested_vmenter"}, a.Missing)
	var b strings.Builder
	c.WriteTable(&b)
	assert.Contains(t, b.String(), "kvm_nested_vmexit: unavailable: no event kvm:kvm_nested_vmexit in this kernel")
	assert.Contains(t, b.String(), "L0 took 7 exits")
	assert.Contains(t, b.String(), "cpuid", "the counted event still prints")
}

func TestSessionInstance(t *testing.T) {
	root := fakeTracefs(t, "linux-6.18", true)
	s, err := Open(Options{Root: root, Instance: "test"})
	require.NoError(t, err)
	assert.DirExists(t, filepath.Join(root, "instances", "test"))
	c, err := s.Snapshot()
	require.NoError(t, err)
	for _, ev := range c.Events {
		assert.NotEmpty(t, ev.Unavailable, "a fake instance has no events")
	}
	require.NoError(t, s.Close())
	assert.NoDirExists(t, filepath.Join(root, "instances", "test"), "Close removes the instance")
}

func TestOpenRejects(t *testing.T) {
	root := fakeTracefs(t, "linux-6.18", true)
	for _, name := range []string{"../escape", "a/b", ".."} {
		_, err := Open(Options{Root: root, Instance: name})
		assert.Error(t, err, name)
	}
	_, err := Open(Options{Root: filepath.Join(root, "nothing")})
	assert.ErrorContains(t, err, "no tracefs at")
	require.NoError(t, os.Mkdir(filepath.Join(root, "instances", "taken"), 0o755))
	_, err = Open(Options{Root: root, Instance: "taken"})
	assert.ErrorContains(t, err, "create trace instance")
}

// TestCountTextCaptured counts a trace file captured in the lab's H
// (Linux 6.1, kvm_amd) while G1 ran its guests.
func TestCountTextCaptured(t *testing.T) {
	text := readFixture(t, "linux-6.1", "trace-sample.txt")
	want := map[string]bool{}
	lines := map[string]int{}
	for _, ev := range NestedEvents {
		want[ev] = true
		lines[ev] = strings.Count(text, " "+ev+": ")
		require.Positive(t, lines[ev], "the sample has %s lines", ev)
	}
	tc, err := countText(strings.NewReader(text), want)
	require.NoError(t, err)
	assert.Equal(t, uint64(108340-61958), tc.lost, "from the entries-in-buffer/entries-written header")
	for _, ev := range NestedEvents {
		var n uint64
		for reason, c := range tc.counts[ev] {
			n += c
			assert.NotEqual(t, "?", reason, "%s: every line has its reason", ev)
		}
		assert.Equal(t, uint64(lines[ev]), n, ev)
	}
	assert.Positive(t, tc.counts["kvm_exit"]["msr"])
	assert.Positive(t, tc.counts["kvm_nested_vmexit"]["npf"])
	assert.Positive(t, tc.counts["kvm_nested_vmexit_inject"]["npf"])
	assert.Positive(t, tc.counts["kvm_nested_vmenter"]["SVM"])
	assert.Equal(t, ISASVM, tc.isa["npf"])
}

func TestLineReason(t *testing.T) {
	tests := []struct {
		event, body, want string
		isa               ISA
	}{
		{"kvm_exit", "vcpu 0 reason io rip 0x1 info1 0x0", "io", ISASVM},
		{"kvm_exit", "vcpu 0 reason EPT_VIOLATION rip 0x1 info1 0x0", "EPT_VIOLATION", ISAVMX},
		{"kvm_exit", "vcpu 0 reason INVALID_STATE FAILED_VMENTRY rip 0x1", "INVALID_STATE FAILED_VMENTRY", ISAVMX},
		{"kvm_nested_vmexit_inject", "reason: EXTERNAL_INTERRUPT ext_inf1: 0x0", "EXTERNAL_INTERRUPT", ISAVMX},
		{"kvm_nested_vmenter", "rip: 0x1 vmcs: 0x2 nested_rip: 0x3", "VMX", ISAVMX},
		{"kvm_nested_vmenter", "rip: 0x1 vmcb: 0x2 nested_rip: 0x3", "SVM", ISASVM},
		{"kvm_nested_vmenter", "garbage", "unknown", ISAUnknown},
		{"kvm_exit", "vcpu 0 rip 0x1", "?", ISAUnknown},
		{"kvm_exit", "vcpu 0 reason 0x1234 rip 0x1", "0x1234", ISAUnknown},
	}
	for _, tt := range tests {
		got, isa := lineReason(tt.event, tt.body)
		assert.Equal(t, tt.want, got, tt.body)
		assert.Equal(t, tt.isa, isa, tt.body)
	}
	_, _, ok := parseTraceLine("# tracer: nop")
	assert.False(t, ok)
	ev, body, ok := parseTraceLine(" CPU 0/KVM-431 [000] d..2.   123.456789: kvm_exit: vcpu 0 reason io rip 0x1")
	require.True(t, ok, "a task name with spaces")
	assert.Equal(t, "kvm_exit", ev)
	assert.Equal(t, "vcpu 0 reason io rip 0x1", body)
}

// TestParseHistCaptured parses the hist files of a session captured in the
// lab's H (Linux 6.1, kvm_amd) over a whole run of G1, in which G1 ran
// machine's TestExitLoops and then each exitloop workload as tiny G2s (so
// two CPUID loops of 200 iterations), and snapshots them through a Session.
func TestParseHistCaptured(t *testing.T) {
	for _, ev := range NestedEvents {
		h, err := ParseHist(readFixture(t, "linux-6.1", ev+".hist"))
		require.NoError(t, err, ev)
		assert.True(t, h.Paused, "%s: captured after Stop", ev)
		assert.Zero(t, h.Dropped)
		var sum uint64
		for _, e := range h.Entries {
			sum += e.Hitcount
			assert.Equal(t, uint64(ISASVM), e.Keys["isa"], ev)
		}
		assert.Equal(t, h.Hits, sum, "%s: Hits is the sum of the entries", ev)
	}

	root := fakeTracefs(t, "linux-6.1", true)
	s, err := Open(Options{Root: root, UseTopLevel: true})
	require.NoError(t, err)
	defer s.Close()
	for _, ev := range NestedEvents {
		write(t, filepath.Join(root, "events", "kvm", ev, "hist"), readFixture(t, "linux-6.1", ev+".hist"))
	}
	c, err := s.Snapshot()
	require.NoError(t, err)
	nested := c.Event("kvm_nested_vmexit").ByName()
	inject := c.Event("kvm_nested_vmexit_inject").ByName()
	assert.Equal(t, uint64(400), inject["cpuid"], "two CPUID loops of 200 in G2, all reflected")
	assert.Equal(t, nested["cpuid"], inject["cpuid"])
	assert.Equal(t, uint64(1249), inject["npf"])
	a := c.Attribute()
	assert.Equal(t, c.Event("kvm_nested_vmenter").Total, a.Entries)
	assert.Equal(t, a.AllExits-a.NestedExits, a.L1Exits)
	assert.Greater(t, a.L1ExitsPerInjected, 1.0, "each reflected exit costs L0 several exits of G1")
	assert.Equal(t, a.NestedExits, a.Reflected+a.HandledByL0)
	var b strings.Builder
	c.WriteTable(&b)
	assert.Contains(t, b.String(), "vmrun")
	assert.Contains(t, b.String(), "exits of G1 per exit it was given")
}

// TestSessionMSR counts kvm_msr by MSR index and direction, with the
// event's format captured in the lab's H (Linux 6.1).
func TestSessionMSR(t *testing.T) {
	root := fakeTracefs(t, "linux-6.1", true, append(NestedEvents, MSREvent)...)
	s, err := Open(Options{Root: root, UseTopLevel: true})
	require.NoError(t, err)
	defer s.Close()
	dir := filepath.Join(root, "events", "kvm", MSREvent)
	assert.Equal(t, "hist:keys=ecx,write:pause\n", read(t, filepath.Join(dir, "trigger")))
	write(t, filepath.Join(dir, "hist"), histText("ecx,write", [][]uint64{{0x48, 1, 400}, {0xc0000080, 0, 2}, {0x123, 1, 1}}))
	c, err := s.Snapshot()
	require.NoError(t, err)
	ec := c.Event(MSREvent)
	require.NotNil(t, ec)
	assert.Equal(t, uint64(403), ec.Total)
	assert.Equal(t, map[string]uint64{"wrmsr 0x48 SPEC_CTRL": 400, "rdmsr 0xc0000080 EFER": 2, "wrmsr 0x123": 1}, ec.ByName())
	assert.Equal(t, ReasonCount{Code: 0x48, HasCode: true, Name: "wrmsr 0x48 SPEC_CTRL", Count: 400}, ec.ByReason[0])
	var b strings.Builder
	c.WriteTable(&b)
	assert.Contains(t, b.String(), "-- MSR accesses L0 emulated (kvm_msr): 403\n")
	assert.Regexp(t, `(?m)^ *wrmsr 0x48 SPEC_CTRL +400 *$`, b.String())
}

func TestMSRLines(t *testing.T) {
	tests := []struct {
		body, want string
		ok         bool
	}{
		{"msr_write 48 = 0x0", "wrmsr 0x48 SPEC_CTRL", true},
		{"msr_read c0000080 = 0xd01", "rdmsr 0xc0000080 EFER", true},
		{"msr_read 1d9 = 0x0 (#GP)", "rdmsr 0x1d9 DEBUGCTL", true},
		{"msr_write 4b564d02 = 0x1", "wrmsr 0x4b564d02", true},
		{"msr_write zz = 0x0", "", false},
		{"msr_write 123456789 = 0x0", "", false},
		{"msr_poke 48 = 0x0", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := msrLineName(tt.body)
		assert.Equal(t, tt.ok, ok, tt.body)
		assert.Equal(t, tt.want, got, tt.body)
	}
	name, isa := lineReason(MSREvent, "msr_write 8b = 0x0")
	assert.Equal(t, "wrmsr 0x8b BIOS_SIGN_ID", name)
	assert.Equal(t, ISAUnknown, isa)
	name, _ = lineReason(MSREvent, "garbage")
	assert.Equal(t, "?", name)
	tc, err := countText(strings.NewReader(" CPU 0/KVM-431 [000] d..2.   1.000001: kvm_msr: msr_write 48 = 0x0\n"+
		" CPU 0/KVM-431 [000] d..2.   1.000002: kvm_msr: msr_write 48 = 0x4\n"), map[string]bool{MSREvent: true})
	require.NoError(t, err)
	assert.Equal(t, map[string]uint64{"wrmsr 0x48 SPEC_CTRL": 2}, tc.counts[MSREvent])
}

func TestDefaultEvents(t *testing.T) {
	ev := DefaultEvents()
	assert.Equal(t, append(append([]string(nil), NestedEvents...), MSREvent), ev)
	ev[0] = "changed"
	assert.Equal(t, "kvm_exit", NestedEvents[0], "DefaultEvents returns a copy")
}
