package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/term"
)

// Input is where the console delivers keystrokes: Feed must deliver all of
// b in order, waiting for room, until ctx is done. *serial.Serial is one.
type Input interface {
	Feed(ctx context.Context, b []byte) error
}

// Console is the host end of the guest's serial console.
type Console struct {
	in       *os.File
	fd       int
	terminal bool

	restoreOnce sync.Once
	state       *term.State
	restoreErr  error
}

// Open prepares in (normally os.Stdin). When in is a terminal it is
// switched to raw mode, so that every key, Ctrl-C included, goes to the
// guest; call Restore on every exit path. Otherwise in is read as a plain
// stream.
func Open(in *os.File) (*Console, error) {
	c := &Console{in: in, fd: int(in.Fd())}
	if !term.IsTerminal(c.fd) {
		return c, nil
	}
	st, err := term.MakeRaw(c.fd)
	if err != nil {
		return nil, fmt.Errorf("console: raw mode on %s: %w", in.Name(), err)
	}
	c.terminal, c.state = true, st
	return c, nil
}

// Terminal reports whether the console put a terminal in raw mode.
func (c *Console) Terminal() bool { return c.terminal }

// Restore puts the terminal back as Open found it. It is idempotent and
// safe to call from any goroutine, including a signal handler's; only the
// first call acts and later calls return its result.
func (c *Console) Restore() error {
	c.restoreOnce.Do(func() {
		if c.state == nil {
			return
		}
		if err := term.Restore(c.fd, c.state); err != nil {
			c.restoreErr = fmt.Errorf("console: restore terminal %s: %w; run `stty sane` to repair it", c.in.Name(), err)
		}
	})
	return c.restoreErr
}

// Run copies the console's input into dst until input ends (io.EOF: Run
// returns nil and the guest keeps running), the user types Ctrl-A X on a
// terminal (quit is called, Run returns nil), ctx is done (ctx.Err()), or
// reading fails. On a terminal, Ctrl-A is the escape key as in QEMU:
// Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A H prints the keys to help, any
// other Ctrl-A sequence is dropped. help may be nil. On a plain stream
// every byte goes through unchanged.
//
// A blocked read of the input cannot be interrupted: when ctx ends, Run
// returns at once and leaves one goroutine waiting for the next byte.
func (c *Console) Run(ctx context.Context, dst Input, quit func(), help io.Writer) error {
	chunks := make(chan []byte)
	errc := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			buf := make([]byte, 4096)
			n, err := c.in.Read(buf)
			if n > 0 {
				select {
				case chunks <- buf[:n]:
				case <-done:
					return
				}
			}
			if err != nil {
				errc <- err
				return
			}
		}
	}()
	var esc escaper
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("console: read %s: %w", c.in.Name(), err)
		case b := <-chunks:
			act := actNone
			if c.terminal {
				b, act = esc.filter(b)
			}
			if len(b) > 0 {
				if err := dst.Feed(ctx, b); err != nil {
					return err
				}
			}
			if act&actHelp != 0 && help != nil {
				fmt.Fprint(help, helpText)
			}
			if act&actQuit != 0 {
				if quit != nil {
					quit()
				}
				return nil
			}
		}
	}
}

const helpText = "\r\nC-a x    exit gonest\r\nC-a C-a  send C-a to the guest\r\nC-a h    print this help\r\n"
