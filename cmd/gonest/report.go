package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/gonest/gonest/machine"
	"github.com/gonest/gonest/window"
)

// report prints what -stats, -stats-json, -nested-state and -window ask
// for.
func report(m *machine.Machine, o *runOptions, out machine.Outcome, an *anatomy, stderr io.Writer) error {
	if o.nestedState {
		printNestedState(stderr, m)
	}
	if !o.stats {
		for _, w := range an.windows() {
			w.WriteText(stderr)
		}
	}
	if !o.stats && o.statsJSON == "" {
		return nil
	}
	s := statsReport{Stats: m.Stats(out), Windows: an.windows(), Series: an.samples(), NestedStates: an.nestedCaptures()}
	if o.stats {
		printStats(stderr, s.Stats)
		for _, w := range s.Windows {
			w.WriteText(stderr)
		}
	}
	if o.statsJSON != "" {
		w := stderr
		if o.statsJSON != "-" {
			f, err := os.Create(o.statsJSON)
			if err != nil {
				return fmt.Errorf("-stats-json: %w", err)
			}
			defer f.Close()
			w = f
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(s); err != nil {
			return fmt.Errorf("-stats-json: %w", err)
		}
	}
	return nil
}

// printStats renders the statistics as tables a person reads.
func printStats(w io.Writer, s machine.Stats) {
	fmt.Fprintf(w, "\n== gonest statistics: %s\n", s.Outcome)

	fmt.Fprintln(w, "\n-- userspace exits by reason")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	reasons := make([]string, 0, len(s.Exits.Exits))
	for r := range s.Exits.Exits {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool { return s.Exits.Exits[reasons[i]] > s.Exits.Exits[reasons[j]] })
	for _, r := range reasons {
		fmt.Fprintf(tw, "%d\t  %s\n", s.Exits.Exits[r], r)
	}
	fmt.Fprintf(tw, "%d\t  total\n", s.Exits.Total())
	tw.Flush()
	if n := s.Exits.UnmappedPIOReads + s.Exits.UnmappedPIOWrites; n > 0 {
		fmt.Fprintf(w, "unclaimed port accesses: %d reads, %d writes (last port %#x)\n",
			s.Exits.UnmappedPIOReads, s.Exits.UnmappedPIOWrites, s.Exits.LastUnmappedPort)
	}
	if n := s.Exits.UnmappedMMIOReads + s.Exits.UnmappedMMIOWrites; n > 0 {
		fmt.Fprintf(w, "unclaimed MMIO accesses: %d reads, %d writes (last address %#x)\n",
			s.Exits.UnmappedMMIOReads, s.Exits.UnmappedMMIOWrites, s.Exits.LastUnmappedMMIO)
	}

	fmt.Fprintln(w, "\n-- userspace exits by device")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "bus\taddress\tdevice\taccesses")
	for _, d := range s.Devices {
		fmt.Fprintf(tw, "%s\t%#x+%#x\t%s\t%d\n", d.Bus, d.Base, d.Size, d.Name, d.Accesses)
	}
	tw.Flush()

	fmt.Fprintln(w, "\n-- KVM in-kernel counters (KVM_GET_STATS_FD)")
	if !s.KVM.Available {
		fmt.Fprintf(w, "%s\n", s.KVM.Reason)
	} else {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		header := "counter\tvm"
		for i := range s.KVM.VCPUs {
			header += fmt.Sprintf("\tvcpu%d", i)
		}
		fmt.Fprintln(tw, header)
		names := map[string]bool{}
		for k := range s.KVM.VM {
			names[k] = true
		}
		for _, v := range s.KVM.VCPUs {
			for k := range v {
				names[k] = true
			}
		}
		keys := make([]string, 0, len(names))
		for k := range names {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			row := []string{k, cell(s.KVM.VM, k)}
			nonzero := nonZero(s.KVM.VM, k)
			for _, v := range s.KVM.VCPUs {
				row = append(row, cell(v, k))
				nonzero = nonzero || nonZero(v, k)
			}
			if nonzero {
				fmt.Fprintln(tw, strings.Join(row, "\t"))
			}
		}
		tw.Flush()
		fmt.Fprintln(w, "(counters that are zero everywhere are not shown; -stats-json has them all)")
	}

	fmt.Fprintln(w, "\n-- boot timeline (ms since VMM start)")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, p := range s.Timeline {
		fmt.Fprintf(tw, "%10.1f\t%s\n", p.Ms, p.Event)
	}
	tw.Flush()

	fmt.Fprintln(w, "\n-- memory")
	if s.Memory.Error != "" {
		fmt.Fprintf(w, "unavailable: %s\n", s.Memory.Error)
	} else {
		fmt.Fprintf(w, "process RSS %s, guest RAM resident %s, VMM overhead %s\n",
			mib(s.Memory.RSS), mib(s.Memory.GuestResident), mib(s.Memory.Overhead))
		fmt.Fprintf(w, "RSS: anonymous %s (guest RAM by smaps %s), file %s, shmem %s; Go: heap %s, stacks %s, from the OS %s; %d threads\n",
			mib(s.Memory.RSSAnon), mib(s.Memory.GuestSmaps), mib(s.Memory.RSSFile), mib(s.Memory.RSSShmem),
			mib(s.Memory.GoHeap), mib(s.Memory.GoStacks), mib(s.Memory.GoSys), s.Memory.Threads)
	}
}

func cell(m map[string]uint64, k string) string {
	v, ok := m[k]
	if !ok {
		return "-"
	}
	return fmt.Sprint(v)
}

func nonZero(m map[string]uint64, k string) bool { return m[k] != 0 }

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// printNestedState prints each vCPU's decoded KVM_GET_NESTED_STATE.
func printNestedState(w io.Writer, m *machine.Machine) {
	for _, st := range m.NestedStates() {
		writeNestedState(w, st)
	}
}

// statsReport is what -stats-json writes: the statistics, the -window
// results and the live -nested-state-at/SIGUSR1 readings.
type statsReport struct {
	machine.Stats
	Windows      []window.Result `json:"windows,omitempty"`
	Series       []window.Sample `json:"series,omitempty"`
	NestedStates []stateCapture  `json:"nested_states,omitempty"`
}
