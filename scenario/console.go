package scenario

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
)

// The console checks of the linux scenario are a conversation between two
// gonest-inits: G1 (scenario g1-checks) and H (scenario linux), which runs
// G1's gonest, writes into gonest's stdin and reads gonest's stdout (G1's
// console) live. G1 says what H needs to know in events (messages, not
// console text); the console carries only the test's own data, between
// two frame lines.
const (
	// eventWallclock carries G1's clock (unix_ms); H compares it with its
	// own on receipt.
	eventWallclock = "wallclock"
	// eventConsoleReady says G1's console is raw and G1 is reading: only
	// now does H send its input (Linux flushes the UART's receive FIFO
	// when it sets the port up, so earlier bytes may be lost).
	eventConsoleReady = "console-ready"
	// eventConsoleInput carries the SHA-256 (sha256) of the bytes G1 read.
	eventConsoleInput = "console-input"
	// dataBegin and dataEnd frame the dataLines lines of dataLine(i) G1
	// prints on its console; nothing else may come between them.
	dataBegin = "=== gonest console data begin ==="
	dataEnd   = "=== gonest console data end ==="
)

// Sizes of the console test: 64 KiB each way.
const (
	consoleBytes = 64 << 10 // bytes H sends and G1 reads
	dataLines    = 1024     // lines G1 prints: dataLines*len(dataLine) = 64 KiB
	clockSkewMax = 60 * time.Second
)

// dataLine is the i-th line G1 prints: 64 hex digits that H recomputes, so
// a lost, changed, duplicated or reordered line is found.
func dataLine(i int) string {
	sum := sha256.Sum256([]byte("gonest console line " + strconv.Itoa(i)))
	return hex.EncodeToString(sum[:])
}

// consoleCheck is H's side of the conversation: onLine and onMessage are
// the launch.Observer's Line and Message; Problems says what went wrong
// at the end.
type consoleCheck struct {
	now   func() time.Time
	send  func() // starts sending the input; called once, on eventConsoleReady
	input string // hex SHA-256 of the input H sends

	mu        sync.Mutex
	sawClock  bool
	clockDiff time.Duration // G1's clock minus H's, on receipt
	sentInput bool
	gotInput  string // G1's SHA-256 of what it read, "" until reported
	inData    bool
	dataSeen  int // lines between dataBegin and dataEnd
	dataBad   int // of which differ from dataLine
	firstBad  string
	dataBegun bool
	dataEnded bool
	problems  []string
}

func newConsoleCheck(now func() time.Time, input []byte, send func()) *consoleCheck {
	sum := sha256.Sum256(input)
	return &consoleCheck{now: now, send: send, input: hex.EncodeToString(sum[:])}
}

// onLine follows G1's console, line by line, and says whether to keep the
// line off H's console: 1024 lines of hex would bury the log, and onLine
// has checked each of them. The first lines that differ stay in the log,
// where they show what got in the way.
func (c *consoleCheck) onLine(line string) (hide bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case line == dataBegin:
		c.inData, c.dataBegun = true, true
		return false
	case !c.inData:
		return false
	case line == dataEnd:
		c.inData, c.dataEnded = false, true
		return false
	}
	ok := line == dataLine(c.dataSeen)
	if !ok {
		if c.dataBad == 0 {
			c.firstBad = fmt.Sprintf("line %d is %q, want %q", c.dataSeen, clip(line, 80), dataLine(c.dataSeen))
		}
		c.dataBad++
	}
	c.dataSeen++
	return ok || c.dataBad > badLinesShown
}

// onMessage follows G1's events.
func (c *consoleCheck) onMessage(m launch.Message) {
	if m.Type != guestabi.MsgEvent || m.Depth != 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f := m.Event.Fields
	switch m.Event.Name {
	case eventWallclock:
		ms, err := strconv.ParseInt(f["unix_ms"], 10, 64)
		if err != nil {
			c.problems = append(c.problems, fmt.Sprintf("unreadable wallclock %q", clip(f["unix_ms"], 40)))
			return
		}
		c.sawClock = true
		c.clockDiff = time.UnixMilli(ms).Sub(c.now())
	case eventConsoleReady:
		if !c.sentInput {
			c.sentInput = true
			c.send()
		}
	case eventConsoleInput:
		c.gotInput = f["sha256"]
	}
}

// badLinesShown is how many differing data lines stay in the log.
const badLinesShown = 10

// Problems lists every console check that failed; empty means all passed.
func (c *consoleCheck) Problems() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := append([]string(nil), c.problems...)
	switch {
	case !c.sawClock:
		p = append(p, "G1 never printed its wall-clock time")
	case c.clockDiff >= clockSkewMax || c.clockDiff <= -clockSkewMax:
		p = append(p, fmt.Sprintf("G1's clock is %v off H's (limit %v)", c.clockDiff.Round(time.Millisecond), clockSkewMax))
	}
	switch {
	case !c.sentInput:
		p = append(p, "G1 never said its console was ready, so no input was sent")
	case c.gotInput == "":
		p = append(p, "G1 never reported the SHA-256 of the console input")
	case c.gotInput != c.input:
		p = append(p, fmt.Sprintf("console input corrupted: H sent %d bytes with SHA-256 %s, G1 read %s",
			consoleBytes, c.input, c.gotInput))
	}
	switch {
	case !c.dataBegun:
		p = append(p, "G1 never began its console output")
	case !c.dataEnded:
		p = append(p, fmt.Sprintf("G1's console output never ended (%d lines seen)", c.dataSeen))
	case c.dataSeen != dataLines || c.dataBad > 0:
		p = append(p, fmt.Sprintf("console output: %d lines arrived, want %d; %d differ from what G1 sent (first: %s)",
			c.dataSeen, dataLines, c.dataBad, c.firstBad))
	}
	return p
}

// Summary is one line of figures for the log.
func (c *consoleCheck) Summary() []any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return []any{"clock_diff", c.clockDiff.Round(time.Millisecond), "input_sha256_match", c.gotInput == c.input,
		"output_lines", c.dataSeen, "output_bad", c.dataBad}
}

// clip shortens s to n bytes for a message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
