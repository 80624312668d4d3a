package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gonest/gonest/ktrace"
	"github.com/gonest/gonest/machine"
	"github.com/gonest/gonest/window"
)

// tracefsEnv names a tracefs mount to use instead of finding (or
// mounting) one.
const tracefsEnv = "GONEST_TRACEFS"

// anatomyOptions are the flags that look inside a run while it runs:
// -window, -trace-exits, -nested-state-at and -stats-interval.
type anatomyOptions struct {
	window     string
	spec       window.Spec
	traceExits bool
	stateAt    durationList
	interval   time.Duration
}

// minStatsInterval is the shortest -stats-interval: each sample preads
// every vCPU's statistics fd, and a person reads the rows.
const minStatsInterval = 10 * time.Millisecond

// durationList is a repeatable duration flag.
type durationList []time.Duration

func (d *durationList) String() string { return "" }
func (d *durationList) Set(v string) error {
	t, err := time.ParseDuration(v)
	if err != nil || t < 0 {
		return fmt.Errorf("want a duration since the VMM started, such as 30s")
	}
	*d = append(*d, t)
	return nil
}

// addFlags registers the flags on fs.
func (a *anatomyOptions) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.window, "window", "", "measure between two guest markers `OPEN..CLOSE`, e.g. '+1 scenario start..+1 scenario end' (G2's markers as G1's gonest forwards them); counters and exits of each window print at exit")
	fs.BoolVar(&a.traceExits, "trace-exits", false, "count this host's kvm exit tracepoints in each -window, or over the whole run: who handled each exit of a nested guest (tracefs at /sys/kernel/tracing, mounted if need be, or $"+tracefsEnv+")")
	fs.Var(durationValue(&a.interval), "stats-interval", "print a row of counts every `DURATION` while the guest runs (e.g. 1s): exits that reached userspace and KVM's per-vCPU counters, a time series of the run (kept in -stats-json too)")
	fs.Var(&a.stateAt, "nested-state-at", "read and decode KVM_GET_NESTED_STATE of every vCPU at this `DURATION` after the VMM started, while the guest runs (repeatable; SIGUSR1 does it at any time)")
}

// check validates the flags after parsing.
func (a *anatomyOptions) check() error {
	if a.interval < 0 {
		return usagef("gonest run: -stats-interval %s is negative", a.interval)
	}
	if a.interval != 0 && a.interval < minStatsInterval {
		return usagef("gonest run: -stats-interval %s is shorter than %s", a.interval, minStatsInterval)
	}
	if a.window == "" {
		return nil
	}
	spec, err := window.ParseSpec(a.window)
	if err != nil {
		return usagef("gonest run: -window: %v", err)
	}
	a.spec = spec
	return nil
}

// anatomy is the running state of those flags.
type anatomy struct {
	opts     *anatomyOptions
	rec      *window.Recorder
	series   *window.Series
	trace    *ktrace.Session
	stderr   io.Writer
	start    time.Time
	mu       sync.Mutex
	captures []stateCapture
	stop     func()
}

// stateCapture is one live reading of the vCPUs' nested state.
type stateCapture struct {
	AtMs    float64     `json:"at_ms"`
	Trigger string      `json:"trigger"`
	VCPUs   []vcpuState `json:"vcpus"`
}

type vcpuState struct {
	VCPU      int      `json:"vcpu"`
	Text      string   `json:"text"`
	GuestMode bool     `json:"guest_mode"`
	Detail    []string `json:"detail,omitempty"`
	Raw       string   `json:"raw_base64,omitempty"`
}

// newAnatomy prepares the windows and the trace before machine.New: it
// returns the marker callback the machine must call, which reads m once
// m is set with attach.
func newAnatomy(o *anatomyOptions, stderr io.Writer) *anatomy {
	return &anatomy{opts: o, stderr: stderr, start: time.Now()}
}

// attach connects the machine, opens the trace and starts watching for
// SIGUSR1 and -nested-state-at. Call it after machine.New, before Run.
func (a *anatomy) attach(m *machine.Machine) {
	m.Counters() // opens the statistics fds while no vCPU runs
	if a.opts.traceExits {
		s, err := ktrace.Open(ktrace.Options{Root: os.Getenv(tracefsEnv)})
		if err != nil {
			fmt.Fprintf(a.stderr, "gonest: -trace-exits: %v; the windows show the counters only\n", oneLine(err))
		} else {
			a.trace = s
		}
	}
	var tr window.Tracer
	why := "no -trace-exits"
	if a.trace != nil {
		tr = a.trace
	} else if a.opts.traceExits {
		why = "tracefs unusable (see above)"
	}
	switch {
	case a.opts.window != "":
		a.rec = window.New(a.opts.spec, m.Counters, tr, why)
	case a.opts.traceExits:
		a.rec = window.NewWholeRun(m.Counters, tr, why)
		a.rec.OpenNow(time.Since(a.start))
	}
	if a.opts.interval > 0 {
		a.series = window.NewSeries(m.Counters, time.Since(a.start))
		var b strings.Builder
		fmt.Fprintf(&b, "gonest: counts per %s (KVM's counters summed over the vCPUs):\n", a.opts.interval)
		window.WriteSeriesHeader(&b)
		fmt.Fprint(a.stderr, b.String())
	}
	a.stop = a.watch(m)
}

// sample prints one row of the -stats-interval series.
func (a *anatomy) sample() {
	s := a.series.Sample(time.Since(a.start))
	var b strings.Builder
	window.WriteSeriesRow(&b, &s)
	fmt.Fprint(a.stderr, b.String())
}

// onMarker is the machine's marker callback (after forwarding).
func (a *anatomy) onMarker(mk machine.Marker) {
	if a.rec != nil {
		a.rec.OnMarker(mk)
	}
}

// watch captures nested state on SIGUSR1 and at the -nested-state-at
// times, and samples the -stats-interval series, until the returned
// function is called.
func (a *anatomy) watch(m *machine.Machine) func() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var timers []<-chan time.Time
		for _, d := range a.opts.stateAt {
			t := time.NewTimer(max(0, d-time.Since(a.start)))
			defer t.Stop()
			timers = append(timers, t.C)
		}
		var tick <-chan time.Time
		if a.series != nil {
			t := time.NewTicker(a.opts.interval)
			defer t.Stop()
			tick = t.C
		}
		fire := make(chan string, len(timers))
		for _, c := range timers {
			go func() {
				select {
				case <-c:
					fire <- "-nested-state-at"
				case <-ctx.Done():
				}
			}()
		}
		for {
			var trigger string
			select {
			case <-ctx.Done():
				return
			case <-tick:
				a.sample()
				continue
			case <-sigs:
				trigger = "SIGUSR1"
			case trigger = <-fire:
			}
			cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
			a.capture(m.CaptureNestedStates(cctx), trigger)
			ccancel()
		}
	}()
	return func() {
		signal.Stop(sigs)
		cancel()
		wg.Wait()
	}
}

// capture prints one live reading and keeps it for -stats-json.
func (a *anatomy) capture(states []machine.NestedStateText, trigger string) {
	c := stateCapture{AtMs: float64(time.Since(a.start).Microseconds()) / 1000, Trigger: trigger}
	var b strings.Builder
	fmt.Fprintf(&b, "gonest: nested state at %.1f ms (%s):\n", c.AtMs, trigger)
	guest, read := false, false
	for _, st := range states {
		writeNestedState(&b, st)
		guest = guest || st.GuestMode
		read = read || st.Raw != nil
		vs := vcpuState{VCPU: st.VCPU, Text: st.Text, GuestMode: st.GuestMode, Detail: st.Detail}
		if st.Raw != nil {
			vs.Raw = base64.StdEncoding.EncodeToString(st.Raw)
		}
		c.VCPUs = append(c.VCPUs, vs)
	}
	if read && !guest {
		b.WriteString("no vCPU was in guest mode: the guest was not running a guest of its own at that moment; the run goes on\n")
	}
	fmt.Fprint(a.stderr, b.String())
	a.mu.Lock()
	a.captures = append(a.captures, c)
	a.mu.Unlock()
}

// finish stops watching, closes the last window and the trace. Call it
// after Run, before the report and Close.
func (a *anatomy) finish() {
	if a.stop != nil {
		a.stop()
	}
	if a.series != nil {
		a.sample() // the last, partial interval
	}
	if a.rec != nil {
		a.rec.Finish(time.Since(a.start))
	}
	if a.trace != nil {
		if err := a.trace.Close(); err != nil {
			fmt.Fprintf(a.stderr, "gonest: -trace-exits: %v\n", oneLine(err))
		}
	}
}

// reports says whether there is something to print at exit without
// -stats: windows or live readings.
func (a *anatomy) reports() bool {
	return len(a.windows()) > 0 || len(a.nestedCaptures()) > 0
}

// windows returns the recorded windows.
func (a *anatomy) windows() []window.Result {
	if a == nil || a.rec == nil {
		return nil
	}
	return a.rec.Results()
}

// samples returns the -stats-interval series.
func (a *anatomy) samples() []window.Sample {
	if a == nil || a.series == nil {
		return nil
	}
	return a.series.Samples()
}

// nestedCaptures returns the live readings.
func (a *anatomy) nestedCaptures() []stateCapture {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]stateCapture(nil), a.captures...)
}

// writeNestedState prints one vCPU's state: its header line, then the
// decoded vmcb12 or vmcs12 indented.
func writeNestedState(w io.Writer, st machine.NestedStateText) {
	fmt.Fprintf(w, "nested state vcpu %d: %s\n", st.VCPU, st.Text)
	for _, l := range st.Detail {
		fmt.Fprintf(w, "  %s\n", l)
	}
}
