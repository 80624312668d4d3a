package lab

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
)

// bochsLog reads Bochs's log file as it grows. Each line reads
// "00001345719255e[CPU0  ] RDMSR: Unknown register 0x1a0": the emulated
// tick, the severity (i info, e error, p panic), the device, the message.
// It keeps the last lines for an error message (a console that logs
// nowhere), counts how often each message came (without its tick: KVM in
// H makes the same unhandled MSR read at every VM entry, hundreds of
// thousands of times), and remembers the first panic.
type bochsLog struct {
	*console
	mu     sync.Mutex
	counts map[string]int
	panic  string
}

// maxBochsLogKinds bounds how many distinct messages are counted.
const maxBochsLogKinds = 4096

func newBochsLog(keep int) *bochsLog {
	l := &bochsLog{console: newConsole(io.Discard, bochsLogLevel, keep), counts: map[string]int{}}
	l.console.onLine = l.count
	return l
}

func (l *bochsLog) count(s string) {
	sev, msg, ok := splitBochsLogLine(s)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if sev == 'p' && l.panic == "" {
		l.panic = msg
	}
	key := string(sev) + " " + msg
	if _, seen := l.counts[key]; seen || len(l.counts) < maxBochsLogKinds {
		l.counts[key]++
	}
}

// splitBochsLogLine splits "00001345719255e[CPU0  ] msg" into its severity
// and "[CPU0] msg".
func splitBochsLogLine(s string) (byte, string, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i+1 >= len(s) || s[i+1] != '[' {
		return 0, "", false
	}
	end := strings.IndexByte(s[i+1:], ']')
	if end < 0 {
		return 0, "", false
	}
	dev := strings.TrimSpace(s[i+2 : i+1+end])
	msg := strings.TrimSpace(s[i+2+end:])
	return s[i], "[" + dev + "] " + msg, true
}

// Tail returns the last lines of the log.
func (l *bochsLog) Tail() []string { return l.console.Tails()[bochsLogLevel] }

// Panic returns the first panic message, or "".
func (l *bochsLog) Panic() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.panic
}

// Counts returns how often each error or panic message came, keyed
// "e [CPU0] RDMSR: Unknown register 0x1d9".
func (l *bochsLog) Counts() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for k, n := range l.counts {
		if k[0] == 'e' || k[0] == 'p' {
			out[k] = n
		}
	}
	return out
}

// Summary renders the n most frequent error and panic messages, most
// frequent first: "312400x e [CPU0] RDMSR: Unknown register 0x1d9; ...".
func (l *bochsLog) Summary(n int) string {
	counts := l.Counts()
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if counts[keys[i]] != counts[keys[j]] {
			return counts[keys[i]] > counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	if len(keys) > n {
		keys = keys[:n]
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%dx %s", counts[k], k)
	}
	return strings.Join(parts, "; ")
}
