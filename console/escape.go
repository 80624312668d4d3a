package console

// The escape key and the commands that may follow it.
const (
	escapeKey = 0x01 // Ctrl-A
	quitKey   = 'x'  // Ctrl-A x: quit
	helpKey   = 'h'  // Ctrl-A h: help
)

// action is a set of requests found in the input.
type action int

const (
	actNone action = 0
	actQuit action = 1 << 0 // the user asked to leave
	actHelp action = 1 << 1 // the user asked for the key list
)

// escaper strips Ctrl-A sequences from terminal input. It keeps state
// across calls, so a sequence split between two reads still counts.
type escaper struct {
	pending bool // the previous byte was a lone Ctrl-A
}

// filter returns the bytes meant for the guest, reusing in's storage, and
// what the user asked for. Bytes after a quit are dropped.
func (e *escaper) filter(in []byte) ([]byte, action) {
	out := in[:0]
	act := actNone
	for _, b := range in {
		if e.pending {
			e.pending = false
			switch b {
			case escapeKey:
				out = append(out, escapeKey)
			case quitKey, quitKey - 'a' + 'A':
				return out, act | actQuit
			case helpKey, helpKey - 'a' + 'A', '?':
				act |= actHelp
			}
			// Any other key after Ctrl-A is dropped, as in QEMU.
			continue
		}
		if b == escapeKey {
			e.pending = true
			continue
		}
		out = append(out, b)
	}
	return out, act
}
