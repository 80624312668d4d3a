package scenario

import (
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/exitloop"
	"github.com/gonest/gonest/ktrace"
	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/launch"
)

func TestReadAnatomySettings(t *testing.T) {
	tests := []struct {
		name    string
		params  map[string]string
		n       uint32
		runs    int
		plan    []string
		wantErr string
	}{
		{"defaults", nil, defaultAnatomyN, 1, strings.Split(anatomyNames(), ","), ""},
		{"set", map[string]string{ParamAnatomyN: "50", ParamAnatomyRuns: "5", ParamAnatomyOnly: "pio, pf-4k,"}, 50, 5, []string{"pio", "pf-4k"}, ""},
		{"zero n", map[string]string{ParamAnatomyN: "0"}, 0, 0, nil, "want 1 to 2048"},
		{"n too large for spin", map[string]string{ParamAnatomyN: "2049"}, 0, 0, nil, "want 1 to 2048"},
		{"n not a number", map[string]string{ParamAnatomyN: "many"}, 0, 0, nil, "gonest.anatomy.n"},
		{"zero runs", map[string]string{ParamAnatomyRuns: "0"}, 0, 0, nil, "gonest.anatomy.runs"},
		{"too many runs", map[string]string{ParamAnatomyRuns: "26"}, 0, 0, nil, "want 1 to 25"},
		{"unknown workload", map[string]string{ParamAnatomyOnly: "pio,fork"}, 0, 0, nil, `no workload "fork"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _ := testEnv("H")
			env.Params = tt.params
			s, err := readAnatomySettings(env)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.n, s.n)
			assert.Equal(t, tt.runs, s.runs)
			var names []string
			for _, w := range s.plan {
				names = append(names, w.name)
			}
			assert.Equal(t, tt.plan, names)
			assert.Len(t, s.order(), tt.runs*len(tt.plan), "each run goes through the plan")
		})
	}
}

// TestAnatomyPlanFitsExitloop: every loop at the largest n is one
// exitloop accepts.
func TestAnatomyPlanFitsExitloop(t *testing.T) {
	s := anatomySettings{n: maxAnatomyN, runs: 1, plan: anatomyPlan}
	for _, w := range anatomyPlan {
		n := s.iterations(w)
		assert.GreaterOrEqual(t, n, uint32(maxAnatomyN), "%s: no overflow", w.name)
		_, err := exitloop.ELF(w.kind, n)
		assert.NoError(t, err, w.name)
	}
}

func TestTHP(t *testing.T) {
	path := filepath.Join(t.TempDir(), "enabled")
	require.NoError(t, os.WriteFile(path, []byte("always [madvise] never\n"), 0o644))
	mode, err := readTHP(path)
	require.NoError(t, err)
	assert.Equal(t, "madvise", mode)
	restore, err := setTHP(path, "never")
	require.NoError(t, err)
	b, _ := os.ReadFile(path)
	assert.Equal(t, "never", string(b))
	restore()
	b, _ = os.ReadFile(path)
	assert.Equal(t, "madvise", string(b), "the previous mode comes back")

	require.NoError(t, os.WriteFile(path, []byte("always madvise never\n"), 0o644))
	_, err = setTHP(path, "never")
	assert.ErrorContains(t, err, "no mode in brackets")
	_, err = readTHP(filepath.Join(t.TempDir(), "missing"))
	assert.ErrorContains(t, err, "transparent huge pages")
}

// window builds a launch.Window: duration, KVM counter changes of one
// vCPU, and the trace's counts by event and reason.
func window(ms float64, vcpu map[string]int64, trace map[string]map[string]uint64) launch.Window {
	w := launch.Window{DurationMs: ms, Complete: true}
	w.KVM.Available = true
	w.KVM.VCPUs = []map[string]int64{vcpu}
	w.KVM.VM = map[string]int64{"pages_4k": 3}
	if trace == nil {
		w.TraceUnavailable = "unavailable: tracefs unusable"
		return w
	}
	w.Trace = &ktrace.Counts{Method: ktrace.MethodHist}
	for _, ev := range ktrace.DefaultEvents() {
		ec := ktrace.EventCount{Event: ev}
		by, ok := trace[ev]
		if !ok {
			ec.Unavailable = "no event kvm:" + ev
		}
		for _, name := range slices.Sorted(maps.Keys(by)) {
			ec.Total += by[name]
			ec.ByReason = append(ec.ByReason, ktrace.ReasonCount{ISA: ktrace.ISASVM, Name: name, Count: by[name]})
		}
		w.Trace.Events = append(w.Trace.Events, ec)
	}
	return w
}

// setReason sets an event's count of one reason, and its total with it.
func setReason(ec *ktrace.EventCount, name string, n uint64) {
	for i, r := range ec.ByReason {
		if r.Name == name {
			ec.Total = ec.Total - r.Count + n
			ec.ByReason[i].Count = n
		}
	}
}

// pioRun is one pio loop of 200 as the lab measures it: every OUT
// reflected, host interrupts kept by L0 with the interrupts for G1 they
// carried synthesized, G1's entry path around each exit it was given.
func pioRun() (base, nested launch.Window, g1 g1Figures) {
	base = window(400, map[string]int64{"exits": 201}, map[string]map[string]uint64{
		"kvm_exit": {"io": 201}, "kvm_nested_vmexit": {}, "kvm_nested_vmexit_inject": {}, "kvm_nested_vmenter": {}, "kvm_msr": {}})
	nested = window(480, map[string]int64{"exits": 2127, "nested_run": 226}, map[string]map[string]uint64{
		"kvm_exit":                 {"io": 201, "interrupt": 25 + 27, "vmrun": 226, "vmload": 452, "vmsave": 456, "clgi": 226, "stgi": 226, "msr": 226},
		"kvm_nested_vmexit":        {"io": 201, "interrupt": 25},
		"kvm_nested_vmexit_inject": {"io": 201, "interrupt": 25},
		"kvm_nested_vmenter":       {"SVM": 226},
		"kvm_msr":                  {"rdmsr 0x1d9 DEBUGCTL": 226},
	})
	g1 = g1Figures{workload: "pio", n: 200, durationMs: 481, kvmExits: 226, userExits: 201, counters: "io_exits 201, irq_exits 25"}
	return base, nested, g1
}

// anatomyResult is a launch.Result of G1's run: H's windows, G1's results.
func anatomyResult(t *testing.T, nested []launch.Window, g1 []g1Figures) launch.Result {
	t.Helper()
	st := &launch.Stats{Windows: nested}
	res := launch.Result{Stats: st}
	for _, f := range g1 {
		text, metrics := f.message()
		m := guestabi.ResultMessage(ResultAnatomyG1, text, metrics)
		_, err := guestabi.EncodeMessage(m)
		require.NoError(t, err, "G1's result is a valid message")
		res.Messages = append(res.Messages, launch.Message{Message: m})
	}
	return res
}

func TestAnatomyRows(t *testing.T) {
	set := anatomySettings{n: 200, runs: 3, plan: []anatomyWorkload{anatomyPlan[0]}}
	var base []launchWindowOf
	var nested []launch.Window
	var g1 []g1Figures
	for i := range 3 {
		b, n, f := pioRun()
		n.DurationMs += float64(i) * 10 // 480, 490, 500: median 490
		f.index = i
		base, nested, g1 = append(base, launchWindowOf{"pio", b}), append(nested, n), append(g1, f)
	}
	rows, err := buildAnatomyRows(set, base, anatomyResult(t, nested, g1))
	require.NoError(t, err)
	require.Len(t, rows, 1)
	r := rows[0]
	assert.Equal(t, 226.0, r.g2Exits)
	assert.Equal(t, 201.0, r.reflected, "the OUTs")
	assert.Equal(t, 25.0, r.handled, "host interrupts are L0's")
	assert.Equal(t, 25.0, r.synthesized, "interrupts for G1")
	assert.Equal(t, 226.0, r.injected)
	assert.Equal(t, 201.0, r.ownExits)
	// G1's own: 27 interrupts, and per exit given: vmrun, 2 vmload, 1 vmsave
	// (+4 after exits to userspace), clgi, stgi, the DEBUGCTL read.
	assert.InDelta(t, 1839.0/226, r.l1PerInjected, 1e-9)
	assert.Equal(t, 2.0, r.l1Reasons["vmload"])
	assert.Equal(t, 1.0, r.msrs["rdmsr 0x1d9 DEBUGCTL"])
	assert.Equal(t, 490.0, r.nestedMs)
	assert.Equal(t, 201.0, r.baseExits)
	assert.Equal(t, 3.0, r.hCounters["pages_4k"])
	assert.Empty(t, checkAnatomy(set, rows))

	m := r.metrics()
	assert.LessOrEqual(t, len(m), 32, "a result holds at most 32 metrics")
	_, err = guestabi.EncodeMessage(guestabi.ResultMessage(ResultAnatomyRow, r.summary(), m))
	assert.NoError(t, err, "the row is a valid message")
	assert.Equal(t, 2450000.0, m[RowNestedNs])
	assert.True(t, strings.HasPrefix(r.benchRow(), "exit anatomy | pio | 200 | 3 | 1.13 | 25 | 201 | 25 | "), r.benchRow())

	var b strings.Builder
	writeAnatomyTable(&b, set, rows)
	assert.Contains(t, b.String(), "G1's own exits at L0: ")
	assert.Contains(t, b.String(), "vmload 2.00")
	assert.Contains(t, b.String(), "rdmsr 0x1d9 DEBUGCTL 1.00")
}

// TestAnatomyChecks: what checkAnatomy finds missing.
func TestAnatomyChecks(t *testing.T) {
	set := anatomySettings{n: 200, runs: 1, plan: []anatomyWorkload{anatomyPlan[0]}}
	tests := []struct {
		name   string
		mutate func(b, n *launch.Window, f *g1Figures)
		want   string
	}{
		{"G1 counted other exits", func(_, _ *launch.Window, f *g1Figures) { f.kvmExits = 230 },
			"L0 gave G1 226 exits, G1's KVM counted 230"},
		{"too few OUTs", func(_, n *launch.Window, _ *g1Figures) {
			setReason(n.Trace.Event("kvm_nested_vmexit"), "io", 150)
			setReason(n.Trace.Event("kvm_nested_vmexit_inject"), "io", 150)
		}, "want one at least per iteration"},
		{"no tracefs in H", func(_, n *launch.Window, _ *g1Figures) {
			n.Trace, n.TraceUnavailable = nil, "unavailable: no tracefs at /sys/kernel/tracing"
		}, "L0's exit tracepoints unavailable: unavailable: no tracefs"},
		{"no kvm_nested_vmexit", func(_, n *launch.Window, _ *g1Figures) {
			n.Trace.Event("kvm_nested_vmexit").Unavailable = "no event kvm:kvm_nested_vmexit in this kernel"
		}, "kvm_nested_vmexit: no event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, n, f := pioRun()
			tt.mutate(&b, &n, &f)
			rows, err := buildAnatomyRows(set, []launchWindowOf{{"pio", b}}, anatomyResult(t, []launch.Window{n}, []g1Figures{f}))
			require.NoError(t, err)
			assert.Contains(t, strings.Join(checkAnatomy(set, rows), "\n"), tt.want)
			// The table still prints, saying what is unavailable.
			var out strings.Builder
			writeAnatomyTable(&out, set, rows)
			assert.Contains(t, out.String(), "-- pio: out to port 0x80, 200 iterations")
			if strings.Contains(tt.want, "unavailable") || strings.Contains(tt.want, "no event") {
				assert.Contains(t, out.String(), "L0's exit tracepoints: unavailable: ")
			}
		})
	}
}

// TestAnatomyRowsDoNotLineUp: results that do not match the plan are an
// error, not a table.
func TestAnatomyRowsDoNotLineUp(t *testing.T) {
	set := anatomySettings{n: 200, runs: 1, plan: []anatomyWorkload{anatomyPlan[0]}}
	b, n, f := pioRun()
	_, err := buildAnatomyRows(set, []launchWindowOf{{"pio", b}}, anatomyResult(t, nil, []g1Figures{f}))
	assert.ErrorContains(t, err, "1 loops planned, 1 measured as H's guest, 0 windows in H")
	other := f
	other.workload = "mmio"
	_, err = buildAnatomyRows(set, []launchWindowOf{{"pio", b}}, anatomyResult(t, []launch.Window{n}, []g1Figures{other}))
	assert.ErrorContains(t, err, "G1 reported mmio")
	open := n
	open.Complete = false
	_, err = buildAnatomyRows(set, []launchWindowOf{{"pio", b}}, anatomyResult(t, []launch.Window{open}, []g1Figures{f}))
	assert.ErrorContains(t, err, "H's window never closed")
	_, err = buildAnatomyRows(set, nil, launch.Result{})
	assert.ErrorContains(t, err, "no statistics")
}

func TestG1FiguresMessage(t *testing.T) {
	w := launch.Window{DurationMs: 12.5, Complete: true, Exits: map[string]int64{"KVM_EXIT_IO": 201, "KVM_EXIT_MMIO": 1}}
	w.KVM.Available = true
	w.KVM.VCPUs = []map[string]int64{{"exits": 226, "io_exits": 201, "irq_exits": 25, "halt_wait_ns": 5}}
	w.KVM.VM = map[string]int64{"pages_4k": 2, "pages_2m": -1}
	f := g1FiguresOf("pio", 3, 200, w)
	text, metrics := f.message()
	assert.Equal(t, "pio: G1's KVM took 226 exits of G2 (io_exits 201, irq_exits 25)", text)
	got, err := parseG1Figures(launch.Message{Message: guestabi.ResultMessage(ResultAnatomyG1, text, metrics)})
	require.NoError(t, err)
	assert.Equal(t, f, got)
	delete(metrics, g1KVMExits)
	_, err = parseG1Figures(launch.Message{Message: guestabi.ResultMessage(ResultAnatomyG1, text, metrics)})
	assert.ErrorContains(t, err, "has no kvm_exits")
	_, err = parseG1Figures(launch.Message{Message: guestabi.ResultMessage(ResultAnatomyG1, "no name", metrics)})
	assert.ErrorContains(t, err, "names no workload")
}

// svmState is a kvm_nested_state in SVM format with flags and vmcb12's
// address (struct kvm_nested_state: flags, format, size, then the svm
// header's vmcb_pa).
func svmState(flags uint16, vmcb uint64) string {
	b := make([]byte, 128)
	binary.LittleEndian.PutUint16(b[0:], flags)
	binary.LittleEndian.PutUint16(b[2:], 1)
	binary.LittleEndian.PutUint32(b[4:], 128)
	binary.LittleEndian.PutUint64(b[8:], vmcb)
	return base64.StdEncoding.EncodeToString(b)
}

// captureOf is one live reading of one vCPU, as H's gonest reports it.
func captureOf(text, raw string) launch.NestedCapture {
	var c launch.NestedCapture
	c.Trigger = "SIGUSR1"
	c.VCPUs = append(c.VCPUs, struct {
		VCPU      int    `json:"vcpu"`
		Text      string `json:"text"`
		GuestMode bool   `json:"guest_mode"`
		Raw       string `json:"raw_base64"`
	}{Text: text, Raw: raw})
	return c
}

func TestSummarizeStates(t *testing.T) {
	capture := func(raw string) launch.NestedCapture { return captureOf("flags", raw) }
	st := &launch.Stats{NestedStates: []launch.NestedCapture{capture(svmState(0x100, 0)), capture(svmState(0x101, 0x1ef9a000)),
		capture(svmState(0x101, 0x1ef9a000)), capture("")}}
	s := summarizeStates(st)
	raw, err := base64.StdEncoding.DecodeString(svmState(0x101, 0x1ef9a000))
	require.NoError(t, err)
	assert.Equal(t, stateSummary{readings: 3, idle: 1, guest: 2, address: 0x1ef9a000, format: "SVM", header: "flags", raw: raw}, s)
	assert.Empty(t, s.problems())
	assert.Equal(t, float64(0x1ef9a000), s.metrics()[StateAddress])
	assert.NotContains(t, s.metrics(), StateVMX)
	zr, err := gzip.NewReader(base64.NewDecoder(base64.StdEncoding, strings.NewReader(s.rawText())))
	require.NoError(t, err)
	back, err := io.ReadAll(zr)
	require.NoError(t, err)
	assert.Equal(t, raw, back, "the raw reading, gzipped, in base64")
	assert.Empty(t, summarizeStates(nil).rawText())

	s = summarizeStates(&launch.Stats{NestedStates: []launch.NestedCapture{capture(svmState(0x100, 0))}})
	assert.Equal(t, []string{"no live reading caught G1 in guest mode during G2's spin loop"}, s.problems())
	s = summarizeStates(&launch.Stats{NestedStates: []launch.NestedCapture{capture(svmState(0x101, 0))}})
	assert.Contains(t, strings.Join(s.problems(), "\n"), "no SVM address")
	assert.Contains(t, strings.Join(s.problems(), "\n"), "no live reading found G1 outside guest mode")
	s = summarizeStates(&launch.Stats{NestedStates: []launch.NestedCapture{capture("!!"), capture(base64.StdEncoding.EncodeToString([]byte{1, 2}))}})
	assert.Equal(t, 2, s.unreadable)
	assert.Contains(t, strings.Join(s.problems(), "\n"), "2 nested states did not decode")
	assert.Len(t, summarizeStates(nil).problems(), 2)
}

// vmxState is a kvm_nested_state in VMX format in guest mode, with the
// VMXON region, vmcs12's address and, when withVMCS12, a vmcs12 (struct
// kvm_vmx_nested_state_hdr; vmcs12's fields at vmcs12.h's offsets).
func vmxState(withVMCS12 bool) string {
	size := 128
	if withVMCS12 {
		size += kvm.VMCS12Size
	}
	b := make([]byte, size)
	le := binary.LittleEndian
	le.PutUint16(b[0:], kvm.NestedGuestMode)
	le.PutUint32(b[4:], uint32(size))
	le.PutUint64(b[8:], 0x7000)  // vmxon_pa
	le.PutUint64(b[16:], 0x8000) // vmcs12_pa
	if withVMCS12 {
		v := b[128:]
		le.PutUint32(v[0:], kvm.VMCS12Revision)
		le.PutUint32(v[8:], 1)            // launch_state
		le.PutUint64(v[120:], 0x901e)     // ept_pointer: WB, 4 levels
		le.PutUint32(v[744:], 0x9)        // pin-based: external interrupts, NMIs
		le.PutUint32(v[748:], 0x80000080) // HLT exiting, secondary controls
		le.PutUint32(v[752:], 0x60042)    // #DB #UD #AC #MC
		le.PutUint32(v[804:], 0x2)        // EPT
	}
	return base64.StdEncoding.EncodeToString(b)
}

func TestSummarizeStatesVMX(t *testing.T) {
	capture := func(raw string) launch.NestedCapture { return captureOf("format=VMX", raw) }
	idle := make([]byte, 128)
	binary.LittleEndian.PutUint64(idle[8:], ^uint64(0))
	binary.LittleEndian.PutUint64(idle[16:], ^uint64(0))
	binary.LittleEndian.PutUint32(idle[4:], 128)
	s := summarizeStates(&launch.Stats{NestedStates: []launch.NestedCapture{
		capture(base64.StdEncoding.EncodeToString(idle)), capture(vmxState(true))}})
	assert.Empty(t, s.problems())
	assert.Equal(t, map[string]float64{StateReadings: 2, StateIdle: 1, StateGuest: 1, StateAddress: 0x8000, StateVMX: 1,
		StateVMXON: 0x7000, StateVMCS12Revision: kvm.VMCS12Revision, StateLaunched: 1, StatePinBased: 0x9,
		StateProcBased: 0x80000080, StateProcBased2: 0x2, StateExceptionBitmap: 0x60042, StateEPTP: 0x901e}, s.metrics())

	s = summarizeStates(&launch.Stats{NestedStates: []launch.NestedCapture{
		capture(base64.StdEncoding.EncodeToString(idle)), capture(vmxState(false))}})
	assert.Equal(t, []string{"G1 in guest mode, but its VMX nested state holds no vmcs12: format=VMX"}, s.problems())
	assert.NotContains(t, s.metrics(), StateEPTP)
}

func TestLiveReadingLines(t *testing.T) {
	out := `gonest: nested state at 41897.8 ms (SIGUSR1):
nested state vcpu 0: format=VMX flags=0x0 L1 (not in guest mode), VMXON off, no current VMCS12, size=128
no vCPU was in guest mode: the guest was not running a guest of its own at that moment; the run goes on
gonest: nested state at 45554.3 ms (SIGUSR1):
nested state vcpu 0: format=VMX flags=0x0 L1 (not in guest mode), vmxon=0x1178a000, vmcs12=0x13a0a000, size=4224
  vmcs12 revision 0x11e57ed0, launched
  exception bitmap 0x60042: #DB #UD #AC #MC
no vCPU was in guest mode: the guest was not running a guest of its own at that moment; the run goes on
gonest: nested state at 45578.3 ms (SIGUSR1):
nested state vcpu 0: format=VMX flags=0x1 guest mode: an L2 guest was running, vmxon=0x1178a000, vmcs12=0x13a0a000, size=4224
  vmcs12 revision 0x11e57ed0, launched
  last exit G1 saw: basic reason 1 (SDM vol. 3D, appendix C), qualification 0x0
gonest: nested state at 45678.2 ms (SIGUSR1):
nested state vcpu 0: format=VMX flags=0x1 guest mode: an L2 guest was running, vmxon=0x1178a000, vmcs12=0x13a0a000, size=4224
  vmcs12 revision 0x11e57ed0, launched

-- window 1: +1 scenario start..+1 scenario end, 210.3 ms
KVM counters that changed:
           reason  all exits  while G2 ran
   IO_INSTRUCTION        101           101
gonest: -trace-exits: something went wrong
`
	assert.Equal(t, []string{
		"gonest: nested state at 41897.8 ms (SIGUSR1):",
		"nested state vcpu 0: format=VMX flags=0x0 L1 (not in guest mode), VMXON off, no current VMCS12, size=128",
		"no vCPU was in guest mode: the guest was not running a guest of its own at that moment; the run goes on",
		"gonest: nested state at 45554.3 ms (SIGUSR1):",
		"nested state vcpu 0: format=VMX flags=0x0 L1 (not in guest mode), vmxon=0x1178a000, vmcs12=0x13a0a000, size=4224",
		"  vmcs12 revision 0x11e57ed0, launched",
		"  exception bitmap 0x60042: #DB #UD #AC #MC",
		"no vCPU was in guest mode: the guest was not running a guest of its own at that moment; the run goes on",
		"gonest: nested state at 45578.3 ms (SIGUSR1):",
		"nested state vcpu 0: format=VMX flags=0x1 guest mode: an L2 guest was running, vmxon=0x1178a000, vmcs12=0x13a0a000, size=4224",
		"  vmcs12 revision 0x11e57ed0, launched",
		"  last exit G1 saw: basic reason 1 (SDM vol. 3D, appendix C), qualification 0x0",
		"gonest: nested state at 45678.2 ms (SIGUSR1):",
		"nested state vcpu 0: format=VMX flags=0x1 guest mode: an L2 guest was running, vmxon=0x1178a000, vmcs12=0x13a0a000, size=4224",
		"gonest: -trace-exits: something went wrong",
	}, liveReadingLines(out))
}
