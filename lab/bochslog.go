package lab

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/gonest/gonest/guestabi"
)

// maxBochsLine bounds a line of Bochs's stdout or log; a longer one is
// cut in pieces.
const maxBochsLine = 8192

// lineSplitter cuts a byte stream into lines, without their newline, and
// hands each to emit; a line that reaches maxBochsLine is cut there. It is
// safe for concurrent writers.
type lineSplitter struct {
	mu      sync.Mutex
	partial []byte
	emit    func(line []byte)
}

func (s *lineSplitter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.partial = append(s.partial, p...)
			for len(s.partial) >= maxBochsLine {
				s.emit(s.partial[:maxBochsLine:maxBochsLine]) // full capacity: emit may append
				s.partial = append(s.partial[:0], s.partial[maxBochsLine:]...)
			}
			break
		}
		s.emit(append(s.partial, p[:i]...))
		s.partial = s.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

// Flush emits a last line that has no newline.
func (s *lineSplitter) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.partial) > 0 {
		s.emit(s.partial)
		s.partial = s.partial[:0]
	}
}

// newBochsStdout splits Bochs's stdout, which carries both what the guest
// writes to port 0xE9 (port_e9_hack) and Bochs's own lines (its banner,
// its debugger's report of where each CPU was when it quit): message lines
// go to messages (launch's message stream), the others to diag.
func newBochsStdout(messages, diag io.Writer) io.Writer {
	return &lineSplitter{emit: func(line []byte) {
		w := diag
		if bytes.HasPrefix(line, []byte(guestabi.MessagePrefix)) {
			w = messages
		}
		_, _ = w.Write(append(line, '\n'))
	}}
}

// bochsLog reads Bochs's log as Bochs writes it. Each line reads
// "00001345719255e[CPU0  ] RDMSR: Unknown register 0x1a0": the emulated
// tick, the severity (i info, e error, p panic), the device, the message.
// It keeps the last lines for an error message, counts how often each
// message came (without its tick: KVM in H makes the same unhandled MSR
// read at every VM entry, hundreds of thousands of times), and remembers
// the first panic.
type bochsLog struct {
	lineSplitter
	keep   int
	mu     sync.Mutex
	tail   []string
	counts map[string]int
	panic  string
}

// maxBochsLogKinds bounds how many distinct messages are counted.
const maxBochsLogKinds = 4096

func newBochsLog(keep int) *bochsLog {
	l := &bochsLog{keep: keep, counts: map[string]int{}}
	l.emit = l.line
	return l
}

func (l *bochsLog) line(b []byte) {
	s := string(b)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tail = append(l.tail, s)
	if len(l.tail) > l.keep {
		l.tail = l.tail[len(l.tail)-l.keep:]
	}
	sev, msg, ok := splitBochsLogLine(s)
	if !ok {
		return
	}
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

// Tail returns the last lines of the log, a last line without a newline
// included.
func (l *bochsLog) Tail() []string {
	l.Flush()
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.tail...)
}

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
