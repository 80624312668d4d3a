package devicetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDecode(t *testing.T) {
	got := Decode([]byte{
		0x81, 0, 0x2a, // write 1 byte at 0
		0x04, 5, // read 4 bytes at 5 % (4+2) = 5
		0x09, 7, // read 0 bytes (9 % 9) at 1
		0x88, 2, 1, 2, // write of 8 bytes, cut to the 2 left
	}, 4)
	assert.Equal(t, []Access{
		{Write: true, Offset: 0, Data: []byte{0x2a}},
		{Offset: 5, Data: make([]byte, 4)},
		{Offset: 1, Data: []byte{}},
		{Write: true, Offset: 2, Data: []byte{1, 2}},
	}, got)
	assert.Empty(t, Decode([]byte{0x81}, 4), "an op byte without its offset is dropped")
}

// fake records what reached it and reads as bytes 0, 1, 2...
type fake struct{ writes [][]byte }

func (f *fake) Read(offset uint64, data []byte) {
	for i := range data {
		data[i] = byte(i)
	}
}
func (f *fake) Write(offset uint64, data []byte) { f.writes = append(f.writes, data) }

func TestRunReadsAndWrites(t *testing.T) {
	f := &fake{}
	var reads [][]byte
	Run(t, f, []Access{{Write: true, Data: []byte{7}}, {Data: make([]byte, 3)}}, func(a Access, read []byte) error {
		if !a.Write {
			reads = append(reads, read)
		}
		return nil
	})
	assert.Equal(t, [][]byte{{7}}, f.writes)
	assert.Equal(t, [][]byte{{0, 1, 2}}, reads)
	assert.NoError(t, AllBytes([]byte{0xff, 0xff}, 0xff))
	assert.EqualError(t, AllBytes([]byte{0xff, Sentinel}, 0xff), "byte 1 of 2 reads 0xa5, want 0xff")
}
