package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
)

func TestRows(t *testing.T) {
	row := func(depth int, text string) launch.Message {
		m := guestabi.ResultMessage(guestabi.ResultBenchRow, text, map[string]float64{"ratio": 1.3})
		m.Depth = depth
		return launch.Message{Message: m}
	}
	msgs := []launch.Message{
		{Message: guestabi.EventMessage("bench-boot")},
		row(0, "lab G1 boot (start → init marker): gonest 9.1 s, QEMU microvm 7.0 s, ratio 1.30 (median of 3)"),
		row(1, "not H's"),
		{Message: guestabi.ResultMessage("blk-read", "not a row", nil)},
		row(0, `with "quotes" inside`),
	}
	assert.Equal(t, []string{
		"lab G1 boot (start → init marker): gonest 9.1 s, QEMU microvm 7.0 s, ratio 1.30 (median of 3)",
		`with "quotes" inside`,
	}, Rows(msgs))
	assert.Empty(t, Rows(nil))
}
