package serial

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Enqueue offers host input to the receiver and returns how many bytes of b
// it took: at most the free room in the receive FIFO (one byte while the
// guest runs the UART in 16450 mode, none in loopback mode, where the
// receiver is cut off from the line). The host can therefore never cause an
// overrun. Use WaitRoom or Feed to wait for the guest to make room.
func (s *Serial) Enqueue(b []byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mcr&mcrLoop != 0 {
		return 0
	}
	n := 0
	for n < len(b) && s.rx.n < s.rxCap() {
		s.rx.push(b[n])
		n++
	}
	s.stats.RxBytes += uint64(n)
	s.updateIRQ()
	return n
}

// WaitRoom blocks until the receiver can take at least one byte from the
// host, or ctx is done.
func (s *Serial) WaitRoom(ctx context.Context) error {
	for {
		s.mu.Lock()
		if s.mcr&mcrLoop == 0 && s.rx.n < s.rxCap() {
			s.mu.Unlock()
			return nil
		}
		if s.room == nil {
			s.room = make(chan struct{})
		}
		room := s.room
		s.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// notifyRoom wakes WaitRoom callers. Called with mu held whenever the
// receiver may have gained room.
func (s *Serial) notifyRoom() {
	if s.room != nil {
		close(s.room)
		s.room = nil
	}
}

// Feed delivers all of b to the guest, in order, waiting for the guest to
// drain the receiver as often as needed. It returns early only when ctx is
// done, reporting how much was delivered in the error.
func (s *Serial) Feed(ctx context.Context, b []byte) error {
	total := len(b)
	for len(b) > 0 {
		b = b[s.Enqueue(b):]
		if len(b) == 0 {
			break
		}
		if err := s.WaitRoom(ctx); err != nil {
			return fmt.Errorf("serial input: %d of %d bytes delivered: %w", total-len(b), total, err)
		}
	}
	return nil
}

// FeedFrom copies r into the guest with Feed until r reports io.EOF (a nil
// return) or another error, or ctx is done. A Read that blocks is not
// interrupted by ctx; FeedFrom returns once it comes back.
func (s *Serial) FeedFrom(ctx context.Context, r io.Reader) error {
	buf := make([]byte, 4096)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			if err := s.Feed(ctx, buf[:n]); err != nil {
				return err
			}
		}
		if errors.Is(rerr, io.EOF) {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("serial input: read: %w", rerr)
		}
	}
}
