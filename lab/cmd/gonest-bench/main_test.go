package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRows(t *testing.T) {
	log := "[H] init: bench boot vmm=gonest run=1\n" +
		`[H] init: bench result row="lab G1 boot (start → init marker): gonest 9.1 s, QEMU microvm 7.0 s, ratio 1.30 (median of 3)"` + "\n" +
		`[H] [G1] init: bench result row="not H's"` + "\n" +
		`[H] init: bench result row="with \"quotes\" inside"` + "\n"
	assert.Equal(t, []string{
		"lab G1 boot (start → init marker): gonest 9.1 s, QEMU microvm 7.0 s, ratio 1.30 (median of 3)",
		`with "quotes" inside`,
	}, Rows(log))
	assert.Empty(t, Rows("[H] init: scenario finished\n"))
}
