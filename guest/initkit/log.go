package initkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ConsoleHandler is a slog.Handler for a serial console read by people:
// "init: module loaded name=kvm_amd took=3ms", with no timestamps (the lab
// timestamps the markers) and the level shown only when above INFO. No
// program parses these lines: levels talk through messages (package
// guest/report).
type ConsoleHandler struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	attrs  string
	group  string
}

// NewLogger returns a logger that writes a console's lines to w, each
// starting with prefix ("init: "), through a ConsoleHandler.
func NewLogger(w io.Writer, prefix string) *slog.Logger {
	return slog.New(NewConsoleHandler(w, prefix))
}

// NewConsoleHandler returns a ConsoleHandler writing to w, each line
// starting with prefix ("init: ").
func NewConsoleHandler(w io.Writer, prefix string) *ConsoleHandler {
	return &ConsoleHandler{mu: &sync.Mutex{}, w: w, prefix: prefix}
}

// Enabled implements slog.Handler: INFO and above.
func (h *ConsoleHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

// Handle implements slog.Handler.
func (h *ConsoleHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(h.prefix)
	if r.Level > slog.LevelInfo {
		b.WriteString(r.Level.String())
		b.WriteByte(' ')
	}
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, h.group, a)
		return true
	})
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

// WithAttrs implements slog.Handler.
func (h *ConsoleHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	for _, a := range attrs {
		appendAttr(&b, h.group, a)
	}
	c := *h
	c.attrs += b.String()
	return &c
}

// WithGroup implements slog.Handler.
func (h *ConsoleHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.group += name + "."
	return &c
}

func appendAttr(b *strings.Builder, group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		for _, g := range a.Value.Group() {
			appendAttr(b, group+a.Key+".", g)
		}
		return
	}
	v := a.Value.String()
	if v == "" || strings.ContainsAny(v, " \t\n\"=") {
		v = strconv.Quote(v)
	}
	fmt.Fprintf(b, " %s%s=%s", group, a.Key, v)
}

// DrainConsole waits until the console f has sent everything written to
// it (tcdrain(3), the TCSBRK ioctl with a non-zero argument). The tty
// layer queues a line and sends it from the UART's interrupts, so a
// power-off or an exit-port write right after a line drops what is still
// queued. Under an emulator that sends a byte per thousands of
// instructions (Bochs) that is most of the last lines. A console that is
// not a tty (a pipe, a file) has nothing queued: nil.
func DrainConsole(f *os.File) error {
	err := unix.IoctlSetInt(int(f.Fd()), unix.TCSBRK, 1)
	if err != nil && !errors.Is(err, unix.ENOTTY) {
		return fmt.Errorf("tcdrain %s: %w", f.Name(), err)
	}
	return nil
}
