package ktrace

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// Hist is a parsed hist trigger file (events/SYSTEM/EVENT/hist): one entry
// per distinct key, and the totals the kernel prints after them
// (hist_trigger_show in kernel/trace/trace_events_hist.c).
type Hist struct {
	Entries []HistEntry
	Hits    uint64 // every event the trigger saw
	Dropped uint64 // events not counted because the table was full
	// Paused is true when the trigger info line says [paused].
	Paused bool
}

// HistEntry is one line of a histogram: "{ exit_reason:        124, isa:
// 2 } hitcount:          3". Keys and values are the numeric ones;
// symbolic keys (.sym, .execname, strings) are not used here.
type HistEntry struct {
	Keys     map[string]uint64
	Hitcount uint64
}

// maxHistEntries bounds what ParseHist accepts (the kernel's default map
// size is 2048 entries).
const maxHistEntries = 1 << 16

// ParseHist parses the text of a hist file with numeric keys.
func ParseHist(text string) (*Hist, error) {
	h := &Hist{}
	sawTotals := false
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "# trigger info:"):
			h.Paused = strings.HasSuffix(line, "[paused]")
		case strings.HasPrefix(line, "{"):
			e, err := parseHistEntry(line)
			if err != nil {
				return nil, err
			}
			if len(h.Entries) == maxHistEntries {
				return nil, fmt.Errorf("hist: more than %d entries", maxHistEntries)
			}
			h.Entries = append(h.Entries, e)
		case line == "Totals:":
			sawTotals = true
		case strings.HasPrefix(line, "Hits:"):
			n, err := histNumber(line, "Hits:")
			if err != nil {
				return nil, err
			}
			h.Hits = n
		case strings.HasPrefix(line, "Dropped:"):
			n, err := histNumber(line, "Dropped:")
			if err != nil {
				return nil, err
			}
			h.Dropped = n
		}
	}
	if !sawTotals {
		return nil, fmt.Errorf("hist: no Totals section (not a hist file, or cut short)")
	}
	return h, nil
}

func histNumber(line, prefix string) (uint64, error) {
	s := strings.TrimSpace(strings.TrimPrefix(line, prefix))
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("hist: bad %s line %q", strings.TrimSuffix(prefix, ":"), line)
	}
	return n, nil
}

// parseHistEntry parses "{ k1: v1, k2: v2 } hitcount: N [val2: M ...]".
func parseHistEntry(line string) (HistEntry, error) {
	end := strings.IndexByte(line, '}')
	if end < 0 {
		return HistEntry{}, fmt.Errorf("hist: entry %q has no closing brace", line)
	}
	e := HistEntry{Keys: map[string]uint64{}}
	for _, kv := range strings.Split(line[1:end], ",") {
		k, v, ok := strings.Cut(kv, ":")
		if !ok {
			return HistEntry{}, fmt.Errorf("hist: key %q in %q has no value", kv, line)
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return HistEntry{}, fmt.Errorf("hist: key %q in %q is not a number", strings.TrimSpace(k), line)
		}
		e.Keys[strings.TrimSpace(k)] = n
	}
	vals := strings.Fields(line[end+1:])
	for i := 0; i+1 < len(vals); i += 2 {
		if vals[i] != "hitcount:" {
			continue
		}
		n, err := strconv.ParseUint(vals[i+1], 10, 64)
		if err != nil {
			return HistEntry{}, fmt.Errorf("hist: hitcount %q in %q is not a number", vals[i+1], line)
		}
		e.Hitcount = n
		return e, nil
	}
	return HistEntry{}, fmt.Errorf("hist: entry %q has no hitcount", line)
}
