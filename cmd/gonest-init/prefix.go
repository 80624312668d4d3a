package main

import (
	"bytes"
	"io"
	"sync"
)

// maxLine bounds a buffered partial line; a longer one is cut.
const maxLine = 4096

// lineWriter writes each complete line to out with prefix in front, and
// keeps the last lines in a ring for a failure report. It is safe for use
// by several goroutines (a child's stdout and stderr).
type lineWriter struct {
	mu      sync.Mutex
	out     io.Writer
	prefix  string
	partial []byte
	tail    []string
	keep    int
	next    int
	full    bool
	onLine  func(string) // optional, called with each complete line
	// hide, optional, keeps a complete line off out and the tail when it
	// returns true (onLine still sees it).
	hide func(string) bool
}

func newLineWriter(out io.Writer, prefix string, keep int) *lineWriter {
	return &lineWriter{out: out, prefix: prefix, keep: keep, tail: make([]string, keep)}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.partial = append(w.partial, p...)
			if len(w.partial) >= maxLine {
				if err := w.emit(w.partial); err != nil {
					return n, err
				}
			}
			return n, nil
		}
		line := append(w.partial, p[:i]...)
		p = p[i+1:]
		if err := w.emit(line); err != nil {
			return n, err
		}
	}
	return n, nil
}

// emit writes one line (without its newline) and resets the partial buffer.
func (w *lineWriter) emit(line []byte) error {
	line = bytes.TrimRight(line, "\r")
	s := string(line)
	w.partial = w.partial[:0]
	if w.onLine != nil {
		w.onLine(s)
	}
	if w.hide != nil && w.hide(s) {
		return nil
	}
	if w.keep > 0 {
		w.tail[w.next] = s
		w.next = (w.next + 1) % w.keep
		if w.next == 0 {
			w.full = true
		}
	}
	_, err := io.WriteString(w.out, w.prefix+s+"\n")
	return err
}

// Flush writes a pending partial line.
func (w *lineWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) == 0 {
		return nil
	}
	return w.emit(w.partial)
}

// Tail returns the last lines written, oldest first.
func (w *lineWriter) Tail() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.full {
		return append([]string(nil), w.tail[:w.next]...)
	}
	return append(append([]string(nil), w.tail[w.next:]...), w.tail[:w.next]...)
}
