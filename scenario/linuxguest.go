package scenario

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gonest/gonest/guestabi"
	"golang.org/x/sys/unix"
)

// serialDevice is the console's UART, read in raw mode by the console test.
const serialDevice = "/dev/ttyS0"

// consoleReadMax bounds the wait for H's 64 KiB of console input.
const consoleReadMax = 3 * time.Minute

// runG1Checks is G1's half of the linux scenario: the checks only the
// guest can make (processors, clock, console input and output), then a
// poweroff through ACPI so that H sees gonest's poweroff path end with
// exit 0. gonest doctor runs first, its report on the console.
func runG1Checks(ctx context.Context, env *Env) guestabi.Verdict {
	runDoctor(ctx, env)
	var failed []string
	if err := checkProcessors(env.Param(guestabi.ParamCPUs, "")); err != nil {
		env.Log.Error("processor check", "err", err)
		failed = append(failed, "processors")
	} else {
		env.Log.Info("processors as expected", "want", env.Param(guestabi.ParamCPUs, ""))
	}
	// H compares this with its own clock when the event arrives.
	now := time.Now()
	env.Log.Info("wallclock", "unix_ms", now.UnixMilli(), "utc", now.UTC().Format(time.RFC3339))
	env.Event(eventWallclock, "unix_ms", strconv.FormatInt(now.UnixMilli(), 10))
	if err := consoleRoundTrip(ctx, env); err != nil {
		env.Log.Error("console test", "err", err)
		failed = append(failed, "console")
	}
	if len(failed) > 0 {
		env.Log.Error("g1 checks failed", "checks", strings.Join(failed, ","))
		return guestabi.Fail
	}
	env.PowerOff = true
	return guestabi.Pass
}

// checkProcessors compares the processors in /proc/cpuinfo with want.
func checkProcessors(want string) error {
	n, err := strconv.Atoi(want)
	if err != nil || n < 1 {
		return fmt.Errorf("%s=%q: pass the expected processor count", guestabi.ParamCPUs, want)
	}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	got, err := countProcessors(f)
	if err != nil {
		return err
	}
	if got != n {
		return fmt.Errorf("/proc/cpuinfo shows %d processors, want %d", got, n)
	}
	return nil
}

// countProcessors counts the "processor : N" lines of a /proc/cpuinfo.
func countProcessors(r io.Reader) (int, error) {
	n := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, _, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(key) == "processor" {
			n++
		}
	}
	return n, sc.Err()
}

// consoleRoundTrip reads consoleBytes from the serial port in raw mode and
// reports their SHA-256, then prints dataLines lines of dataLine between
// dataBegin and dataEnd. H checks both (consoleCheck).
func consoleRoundTrip(ctx context.Context, env *Env) error {
	f, err := os.OpenFile(serialDevice, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", serialDevice, err)
	}
	defer f.Close()
	restore, err := makeRaw(int(f.Fd()))
	if err != nil {
		return err
	}
	defer func() {
		if err := restore(); err != nil {
			env.Log.Warn("console mode not restored", "err", err)
		}
	}()
	// printk writes to the same UART as the tty, at any point of a line:
	// keep the kernel's messages off the console while the test's data
	// is on it (the lab's overloaded G1 prints RCU stall warnings).
	restoreLevel, err := quietConsole()
	if err != nil {
		env.Log.Warn("kernel messages may mix into the console test", "err", err)
	} else {
		defer func() {
			if err := restoreLevel(); err != nil {
				env.Log.Warn("console log level not restored", "err", err)
			}
		}()
	}
	deadline := time.Now().Add(consoleReadMax)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := f.SetReadDeadline(deadline); err != nil {
		return fmt.Errorf("%s read deadline: %w", serialDevice, err)
	}
	env.Log.Info("console ready", "bytes", consoleBytes, "device", serialDevice)
	env.Event(eventConsoleReady)
	buf := make([]byte, consoleBytes)
	n, err := io.ReadFull(f, buf)
	sum := sha256.Sum256(buf[:n])
	env.Log.Info("console input", "sha256", hex.EncodeToString(sum[:]), "bytes", n)
	env.Event(eventConsoleInput, "sha256", hex.EncodeToString(sum[:]), "bytes", strconv.Itoa(n))
	if err != nil {
		return fmt.Errorf("read %d bytes from %s: got %d: %w", consoleBytes, serialDevice, n, err)
	}
	var b strings.Builder
	b.WriteString(dataBegin + "\n")
	for i := range dataLines {
		b.WriteString(dataLine(i) + "\n")
	}
	b.WriteString(dataEnd + "\n")
	if _, err := io.WriteString(env.Console, b.String()); err != nil {
		return fmt.Errorf("console output: %w", err)
	}
	env.Log.Info("console output sent", "lines", dataLines)
	return nil
}

// Terminal attributes cleared or set for raw mode, as cfmakeraw(3) does.
const (
	// Input: no break handling, no parity marking or stripping, no CR/NL
	// translation, no XON/XOFF (0x11 and 0x13 are data here).
	rawIflagOff = unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR |
		unix.ICRNL | unix.IXON | unix.IXOFF
	rawOflagOff = unix.OPOST // output: bytes as written, no NL to CR-NL
	// Local: no echo, no line editing, no signals from ^C/^Z, no ^V.
	rawLflagOff = unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	rawCflagOff = unix.CSIZE | unix.PARENB // control: no parity...
	rawCflagOn  = unix.CS8                 // ...eight-bit characters
)

// makeRaw puts the terminal fd in raw mode (reads return as soon as one
// byte is there) and returns how to restore it.
func makeRaw(fd int) (func() error, error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("TCGETS %s: %w", serialDevice, err)
	}
	raw := *old
	raw.Iflag &^= rawIflagOff
	raw.Oflag &^= rawOflagOff
	raw.Lflag &^= rawLflagOff
	raw.Cflag = raw.Cflag&^rawCflagOff | rawCflagOn
	raw.Cc[unix.VMIN] = 1
	raw.Cc[unix.VTIME] = 0
	// TCSETS applies at once and, unlike TCSAFLUSH, discards no input.
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, fmt.Errorf("TCSETS %s: %w", serialDevice, err)
	}
	return func() error {
		if err := unix.IoctlSetTermios(fd, unix.TCSETS, old); err != nil {
			return fmt.Errorf("TCSETS %s: %w", serialDevice, err)
		}
		return nil
	}, nil
}

// printkFile holds the console log level first: "4 4 1 7".
const printkFile = "/proc/sys/kernel/printk"

// quietConsole lowers the console log level to 1 (KERN_EMERG only) and
// returns how to put the old level back.
func quietConsole() (func() error, error) {
	b, err := os.ReadFile(printkFile)
	if err != nil {
		return nil, err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return nil, fmt.Errorf("%s is empty", printkFile)
	}
	old := f[0]
	if _, err := strconv.Atoi(old); err != nil {
		return nil, fmt.Errorf("%s: unexpected %q", printkFile, b)
	}
	if err := os.WriteFile(printkFile, []byte("1"), 0o644); err != nil {
		return nil, err
	}
	return func() error { return os.WriteFile(printkFile, []byte(old), 0o644) }, nil
}
