package vcpu_test

import (
	"sync"
)

// access is one device access, as the device saw it.
type access struct {
	Write  bool
	Offset uint64
	Data   []byte
}

// recorder is a test device: it records every access, and answers reads
// from a per-offset queue of replies (the last reply repeats).
type recorder struct {
	mu       sync.Mutex
	accesses []access
	replies  map[uint64][][]byte
}

func newRecorder() *recorder { return &recorder{replies: map[uint64][][]byte{}} }

// reply queues data to be returned by reads at offset.
func (r *recorder) reply(offset uint64, data ...[]byte) *recorder {
	r.replies[offset] = append(r.replies[offset], data...)
	return r
}

func (r *recorder) Read(offset uint64, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.replies[offset]
	if len(q) > 0 {
		copy(data, q[0])
		if len(q) > 1 {
			r.replies[offset] = q[1:]
		}
	}
	r.accesses = append(r.accesses, access{Offset: offset, Data: append([]byte(nil), data...)})
}

func (r *recorder) Write(offset uint64, data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.accesses = append(r.accesses, access{Write: true, Offset: offset, Data: append([]byte(nil), data...)})
}

func (r *recorder) Name() string { return "recorder" }

func (r *recorder) log() []access {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]access(nil), r.accesses...)
}
