package ktrace

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// Counts is what a session counted, one EventCount per event, in the
// order the session was opened with.
type Counts struct {
	Method Method       `json:"method"`
	Events []EventCount `json:"events"`
	// Lost is how many events the ring buffer overwrote (MethodBuffer).
	Lost uint64 `json:"lost,omitempty"`
}

// EventCount is one event's count, by exit reason.
type EventCount struct {
	Event string `json:"event"`
	// Unavailable says why the event was not counted; empty when it was.
	Unavailable string        `json:"unavailable,omitempty"`
	Total       uint64        `json:"total"`
	Dropped     uint64        `json:"dropped,omitempty"` // hist entries the table could not hold
	ByReason    []ReasonCount `json:"by_reason,omitempty"`
	// Guests splits kvm_nested_vmenter by the guest-physical address of
	// the control block G1 entered (vmcb12 on SVM, vmcs12 on VMX): G1's
	// KVM keeps one per vCPU of its guests, so len(Guests) is how many
	// guest vCPUs G1 ran in the window.
	Guests []GuestCount `json:"guests,omitempty"`
}

// GuestCount is how many times G1 entered one guest vCPU.
type GuestCount struct {
	ControlBlock uint64 `json:"control_block"` // vmcb12/vmcs12 guest-physical address
	Count        uint64 `json:"count"`
}

// ReasonCount is how many times one exit reason was seen.
type ReasonCount struct {
	ISA ISA `json:"isa"`
	// Code is the exit code, when the method sees it (hist does; the
	// buffer method sees only the printed name).
	Code    uint32 `json:"code,omitempty"`
	HasCode bool   `json:"has_code,omitempty"`
	Name    string `json:"name"`
	Count   uint64 `json:"count"`
}

func (ec *EventCount) sort() {
	sortReasons(ec.ByReason)
	sort.Slice(ec.Guests, func(i, j int) bool { return ec.Guests[i].ControlBlock < ec.Guests[j].ControlBlock })
}

// Event returns the count of the named event, or nil.
func (c *Counts) Event(name string) *EventCount {
	for i := range c.Events {
		if c.Events[i].Event == name {
			return &c.Events[i]
		}
	}
	return nil
}

// ByName returns the event's counts keyed by reason name.
func (ec *EventCount) ByName() map[string]uint64 {
	m := make(map[string]uint64, len(ec.ByReason))
	for _, r := range ec.ByReason {
		m[r.Name] += r.Count
	}
	return m
}

// Attribution splits what L0 saw in a window into who handled it: the
// nested guest's exits that L0 kept, those it reflected into G1, the
// exits L0 made up for G1 itself, and G1's own exits (the work G1 does to
// handle each exit it is given and enter its guest again).
//
// The two nested events are matched reason by reason: an exit injected
// into G1 with a G2 exit of the same reason behind it in the window (or,
// on VMX, an EPT_MISCONFIG with an EPT_VIOLATION behind it: ReflectedAs)
// is a reflected one; an injected exit beyond those is synthesized: L0 ended
// G2's run for G1's sake, as when an interrupt for G1 arrives while G2
// runs and becomes an INTR #VMEXIT (nested_svm_intr in svm/nested.c) or
// an EXTERNAL_INTERRUPT one (vmx_check_nested_events in vmx/nested.c).
// A physical interrupt or NMI that stops G2 is always L0's own
// (nested_svm_exit_special returns NESTED_EXIT_HOST for INTR and NMI;
// nested_vmx_l0_wants_exit keeps EXTERNAL_INTERRUPT): those reasons
// (HostReasons) count as handled by L0, and the same reasons injected
// into G1 as synthesized. So Reflected + HandledByL0 = NestedExits, and
// Reflected + Synthesized = Injected.
type Attribution struct {
	// AllExits is kvm_exit: every exit L0 took.
	AllExits uint64 `json:"all_exits"`
	// NestedExits is kvm_nested_vmexit: exits taken while G2 ran.
	NestedExits uint64 `json:"nested_exits"`
	// Injected is kvm_nested_vmexit_inject: every exit delivered to G1.
	Injected uint64 `json:"injected"`
	// Reflected is the part of Injected that passes on a G2 exit of the
	// same reason; Synthesized is the rest.
	Reflected   uint64 `json:"reflected"`
	Synthesized uint64 `json:"synthesized"`
	// HandledByL0 is the part of NestedExits not reflected: exits of G2
	// that L0 handled without G1 knowing.
	HandledByL0 uint64 `json:"handled_by_l0"`
	// L1Exits is AllExits - NestedExits: G1's own exits.
	L1Exits uint64 `json:"l1_exits"`
	// Entries is kvm_nested_vmenter: G1's VMRUN/VMRESUME, emulated.
	Entries uint64 `json:"nested_entries"`
	// Guests is how many distinct guest vCPUs (vmcb12/vmcs12 addresses)
	// G1 entered; 0 where the method could not tell them apart.
	Guests int `json:"guest_vcpus"`
	// L1ExitsPerReflected is L1Exits / Reflected (0 when nothing was
	// reflected): what one reflected exit costs L0 in exits of G1.
	L1ExitsPerReflected float64 `json:"l1_exits_per_reflected"`
	// L1ExitsPerInjected is L1Exits / Injected (0 when nothing was
	// injected): what each exit G1 is given costs L0 in exits of G1.
	L1ExitsPerInjected float64 `json:"l1_exits_per_injected"`
	// Missing names the events that were unavailable; the fields that
	// need them are 0.
	Missing []string `json:"missing,omitempty"`
}

// Attribute computes the Attribution of counts of NestedEvents.
func (c *Counts) Attribute() Attribution {
	var a Attribution
	get := func(name string) *EventCount {
		ec := c.Event(name)
		if ec == nil || ec.Unavailable != "" {
			a.Missing = append(a.Missing, name)
			return nil
		}
		return ec
	}
	all, nested, inject, enter := get("kvm_exit"), get("kvm_nested_vmexit"), get("kvm_nested_vmexit_inject"), get("kvm_nested_vmenter")
	if all != nil {
		a.AllExits = all.Total
	}
	if nested != nil {
		a.NestedExits = nested.Total
	}
	if inject != nil {
		a.Injected = inject.Total
	}
	if enter != nil {
		a.Entries = enter.Total
		a.Guests = len(enter.Guests)
	}
	if all != nil && nested != nil && a.AllExits >= a.NestedExits {
		a.L1Exits = a.AllExits - a.NestedExits
	}
	if nested != nil && inject != nil {
		a.Reflected, a.HandledByL0, a.Synthesized, _ = splitNested(nested.ByName(), inject.ByName())
	}
	if a.Injected > 0 && all != nil && nested != nil {
		a.L1ExitsPerInjected = float64(a.L1Exits) / float64(a.Injected)
	}
	if a.Reflected > 0 && all != nil && nested != nil {
		a.L1ExitsPerReflected = float64(a.L1Exits) / float64(a.Reflected)
	}
	return a
}

// HostReasons are the exit reasons L0 handles itself whatever G1 asked
// for: a physical interrupt or NMI belongs to the host (see Attribution).
// So, on VMX, does the preemption timer: L0 keeps every PREEMPTION_TIMER
// exit of G2 (nested_vmx_l0_wants_exit), which comes from its own timer,
// set to 0 to force G2 out when an event for G1 waits
// (vmx_update_hv_timer in arch/x86/kvm/vmx/vmx.c), and emulates G1's
// preemption timer with a host timer whose expiry it turns into a
// PREEMPTION_TIMER exit for G1 (vmx_preemption_timer_fn, then
// vmx_check_nested_events in vmx/nested.c): synthesized, never passed on.
var HostReasons = map[string]bool{"interrupt": true, "nmi": true, "EXTERNAL_INTERRUPT": true, "PREEMPTION_TIMER": true}

// ReflectedAs maps an exit reason that L0 gives G1 to the reason of the
// G2 exit it may stand for, where the two differ. On VMX, L0 keeps every
// EPT violation of G2 (nested_vmx_l0_wants_exit in
// arch/x86/kvm/vmx/nested.c) and walks G1's EPT for it; where the walk
// finds an entry G1 made invalid on purpose, as G1's KVM does for MMIO
// addresses (an EPT misconfiguration, Intel SDM vol. 3C, 29.3.3.1), L0
// gives G1 an EPT_MISCONFIG exit for G2's EPT_VIOLATION
// (nested_ept_inject_page_fault). SVM has one reason for both, npf.
var ReflectedAs = map[string]string{"EPT_MISCONFIG": "EPT_VIOLATION"}

// splitNested matches the exits taken while G2 ran with those injected
// into G1, reason by reason, then by ReflectedAs (see Attribution). It
// returns the totals and, by reason of G2's exit, how many L0 handled.
func splitNested(nested, inject map[string]uint64) (reflected, handled, synthesized uint64, handledBy map[string]uint64) {
	refl := make(map[string]uint64, len(nested))
	left := make(map[string]uint64, len(inject)) // injected exits not yet matched
	for name, i := range inject {
		left[name] = i
	}
	for name, n := range nested {
		if HostReasons[name] {
			continue
		}
		r := min(n, left[name])
		refl[name] += r
		left[name] -= r
	}
	for as, src := range ReflectedAs {
		r := min(left[as], nested[src]-refl[src])
		refl[src] += r
		left[as] -= r
	}
	handledBy = make(map[string]uint64, len(nested))
	for name, n := range nested {
		reflected += refl[name]
		handledBy[name] = n - refl[name]
		handled += n - refl[name]
	}
	for _, l := range left {
		synthesized += l
	}
	return reflected, handled, synthesized, handledBy
}

// WriteTable prints the counts as a table a person reads: per exit
// reason, how many exits L0 took in all, while G2 ran, and how many it
// reflected into G1; then the attribution. Unavailable events say so and
// the rest still prints.
func (c *Counts) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "-- L0 exits by reason (kvm tracepoints, %s)\n", c.Method)
	cols := []string{"kvm_exit", "kvm_nested_vmexit", "kvm_nested_vmexit_inject"}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "reason\tall exits\twhile G2 ran\tinjected into G1\thandled by L0\t")
	byName := make([]map[string]uint64, len(cols))
	seen := map[string]bool{}
	var order []string
	for i, ev := range cols {
		ec := c.Event(ev)
		if ec == nil || ec.Unavailable != "" {
			continue
		}
		byName[i] = ec.ByName()
		for _, r := range ec.ByReason {
			if !seen[r.Name] {
				seen[r.Name] = true
				order = append(order, r.Name)
			}
		}
	}
	cell := func(i int, name string) string {
		if byName[i] == nil {
			return "n/a"
		}
		return fmt.Sprint(byName[i][name])
	}
	var handledBy map[string]uint64
	if byName[1] != nil && byName[2] != nil {
		_, _, _, handledBy = splitNested(byName[1], byName[2])
	}
	for _, name := range order {
		handled := "n/a"
		if handledBy != nil {
			handled = fmt.Sprint(handledBy[name])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", name, cell(0, name), cell(1, name), cell(2, name), handled)
	}
	tw.Flush()
	for _, ev := range c.Events {
		if ev.Unavailable != "" {
			fmt.Fprintf(w, "%s: unavailable: %s\n", ev.Event, ev.Unavailable)
		} else if ev.Dropped > 0 {
			fmt.Fprintf(w, "%s: %d events not counted (hist table full)\n", ev.Event, ev.Dropped)
		}
	}
	if c.Lost > 0 {
		fmt.Fprintf(w, "the trace buffer overwrote %d events: the counts above are low\n", c.Lost)
	}
	a := c.Attribute()
	fmt.Fprintf(w, "L0 took %d exits: %d while G2 ran (%d handled by L0, %d reflected to G1), %d of G1 itself; L0 synthesized %d more exits for G1; G1 entered G2 %d times",
		a.AllExits, a.NestedExits, a.HandledByL0, a.Reflected, a.L1Exits, a.Synthesized, a.Entries)
	if a.Guests > 0 {
		fmt.Fprintf(w, " (%d guest vCPUs)", a.Guests)
	}
	if a.Injected > 0 {
		fmt.Fprintf(w, "; %.1f exits of G1 per exit it was given", a.L1ExitsPerInjected)
	}
	fmt.Fprintln(w)
	if len(a.Missing) > 0 {
		fmt.Fprintf(w, "(unavailable: %s; figures that need them read 0)\n", strings.Join(a.Missing, ", "))
	}
	if ec := c.Event(MSREvent); ec != nil && ec.Unavailable == "" && ec.Total > 0 {
		fmt.Fprintf(w, "-- MSR accesses L0 emulated (kvm_msr): %d\n", ec.Total)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		for _, r := range ec.ByReason {
			fmt.Fprintf(tw, "%s\t%d\t\n", r.Name, r.Count)
		}
		tw.Flush()
	}
}
