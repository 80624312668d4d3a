package iov

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func bufs() [][]byte { return [][]byte{[]byte("abc"), nil, []byte("de"), []byte("fghij")} }

func TestLenAndAdvance(t *testing.T) {
	assert.Equal(t, uint64(10), Len(bufs()))
	tests := []struct {
		n    uint64
		want [][]byte
	}{
		{0, bufs()},
		{2, [][]byte{[]byte("c"), nil, []byte("de"), []byte("fghij")}},
		{3, [][]byte{[]byte("de"), []byte("fghij")}},
		{6, [][]byte{[]byte("ghij")}},
		{10, [][]byte{}},
		{99, [][]byte{}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Advance(bufs(), tt.n), "advance %d", tt.n)
	}
}

func TestTrim(t *testing.T) {
	assert.Equal(t, [][]byte{[]byte("abc"), nil, []byte("d")}, Trim(nil, bufs(), 4))
	assert.Equal(t, [][]byte{[]byte("ab")}, Trim(nil, bufs(), 2))
	assert.Equal(t, bufs(), Trim(nil, bufs(), 100))
	assert.Empty(t, Trim(nil, bufs(), 0))
}

func TestGatherScatter(t *testing.T) {
	dst := make([]byte, 7)
	assert.Equal(t, 7, Gather(dst, bufs()))
	assert.Equal(t, "abcdefg", string(dst))
	assert.Equal(t, 3, Gather(make([]byte, 3), bufs()))

	out := [][]byte{make([]byte, 2), nil, make([]byte, 3)}
	assert.Equal(t, 5, Scatter(out, []byte("1234567")))
	assert.Equal(t, [][]byte{[]byte("12"), nil, []byte("345")}, out)
	assert.Equal(t, 2, Scatter([][]byte{make([]byte, 5)}, []byte("xy")))
}
