package devices

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

// span is a range the model holds, with the probe mapped there.
type span struct {
	base, size uint64
	p          *probe
}

// addr spreads a fuzz byte over the bottom of the address space and the
// top, where base+size can wrap.
func addr(b byte) uint64 {
	if b&0x80 != 0 {
		return math.MaxUint64 - uint64(b&0x7f)
	}
	return uint64(b)
}

// FuzzBus inserts, removes and accesses ranges in any order, against a
// model: Insert fails exactly when the range is empty, wraps, or
// overlaps one held; an access reaches a device exactly when one range
// holds all of it, at the offset inside that range, and never past its
// end; an access nothing holds reads 0xff.
func FuzzBus(f *testing.F) {
	f.Add([]byte{0, 10, 4, 0, 12, 4, 2, 11, 2, 3, 13, 4, 1, 10, 0, 2, 11, 1})
	f.Add([]byte{0, 0x80, 1, 0, 0x81, 2, 2, 0x81, 2, 3, 0x80, 8})
	f.Fuzz(func(t *testing.T, data []byte) {
		b := NewBus("fuzz")
		var held []span
		for i := 0; i+2 < len(data); i += 3 {
			op, a, n := data[i]%4, addr(data[i+1]), uint64(data[i+2])
			switch op {
			case 0: // insert
				size := n % 16
				want := size > 0 && (a+size > a || a+size == 0 && a == 0)
				for _, s := range held {
					if a < s.base+s.size && s.base < a+size {
						want = false
					}
				}
				p := &probe{}
				err := b.Insert(p, a, size)
				if (err == nil) != want {
					t.Fatalf("op %d: Insert(%#x, %d) = %v, want success %v (held %v)", i/3, a, size, err, want, held)
				}
				if err == nil {
					held = append(held, span{a, size, p})
				} else if want && !errors.Is(err, ErrOverlap) {
					t.Fatalf("op %d: %v", i/3, err)
				}
			case 1: // remove
				want := -1
				for j, s := range held {
					if s.base == a {
						want = j
					}
				}
				if got := b.Remove(a); got != (want >= 0) {
					t.Fatalf("op %d: Remove(%#x) = %v, want %v", i/3, a, got, want >= 0)
				}
				if want >= 0 {
					held = append(held[:want], held[want+1:]...)
				}
			default: // read or write of 0 to 8 bytes
				buf := make([]byte, n%9)
				var owner *span
				for j := range held {
					s := &held[j]
					if a >= s.base && a-s.base < s.size && uint64(len(buf)) <= s.size-(a-s.base) {
						owner = s
					}
				}
				var before int
				if owner != nil {
					before = len(owner.p.log)
				}
				var ok bool
				if op == 2 {
					ok = b.Read(a, buf)
				} else {
					ok = b.Write(a, buf)
				}
				if err := checkDispatch(ok, owner, before, a, buf, op == 2); err != nil {
					t.Fatalf("op %d: %v", i/3, err)
				}
			}
		}
	})
}

// checkDispatch checks one access against the range the model says holds
// it (nil: none).
func checkDispatch(ok bool, owner *span, before int, a uint64, buf []byte, read bool) error {
	if ok != (owner != nil) {
		return fmt.Errorf("access of %d bytes at %#x dispatched %v, a range holds it: %v", len(buf), a, ok, owner != nil)
	}
	if owner == nil {
		for _, v := range buf {
			if read && v != 0xff {
				return fmt.Errorf("unclaimed read at %#x gave %#x, want 0xff", a, v)
			}
		}
		return nil
	}
	if len(owner.p.log) != before+1 {
		return fmt.Errorf("the device got %d calls for one access", len(owner.p.log)-before)
	}
	got := owner.p.log[before]
	if got.write == read || got.offset != a-owner.base || got.offset+uint64(len(got.data)) > owner.size {
		return fmt.Errorf("device got %+v for an access at %#x of its range %#x+%d", got, a, owner.base, owner.size)
	}
	return nil
}
