package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBenchBlkParsesTheReadLine(t *testing.T) {
	var console bytes.Buffer
	env := &Env{Log: slog.New(newConsoleHandler(&console, "init: ")), Console: &console}
	logRead(env, "/dev/vda", "2", 256<<20, 2*time.Second)
	line := strings.TrimSpace(console.String())
	m := benchBlkRead.FindStringSubmatch(line)
	require.NotNil(t, m, line)
	assert.Equal(t, "134.2", m[1], "268435456 bytes in 2 s")
}

func TestMedianOf(t *testing.T) {
	assert.Equal(t, 0.0, medianOf(nil))
	assert.Equal(t, 3.0, medianOf([]float64{5, 3, 1}))
	assert.Equal(t, 2.5, medianOf([]float64{4, 1, 2, 3}))
	in := []float64{3, 1, 2}
	medianOf(in)
	assert.Equal(t, []float64{3, 1, 2}, in, "the input is not sorted in place")
}

func TestWriteBenchImage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bench.img")
	require.NoError(t, writeBenchImage(p, 3<<20))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Len(t, b, 3<<20)
	assert.Equal(t, b[:1<<20], b[2<<20:], "the 1 MiB pattern repeats")
	assert.NotEqual(t, make([]byte, 4096), b[4096:8192], "not zeros: a VMM cannot skip holes")
}

func TestRateSpread(t *testing.T) {
	assert.Equal(t, "88 MB/s (min 56, max 379)", rateSpread([]float64{379, 88, 56}))
}

func TestBenchRunCount(t *testing.T) {
	tests := []struct {
		params map[string]string
		want   int
		ok     bool
	}{
		{nil, benchRuns, true},
		{map[string]string{paramBenchRuns: "7"}, 7, true},
		{map[string]string{paramBenchRuns: "0"}, 0, false},
		{map[string]string{paramBenchRuns: "seven"}, 0, false},
	}
	for _, tt := range tests {
		var console bytes.Buffer
		env := &Env{Log: slog.New(newConsoleHandler(&console, "init: ")), Console: &console, Params: tt.params}
		got, ok := benchRunCount(env)
		assert.Equal(t, tt.want, got, "%v", tt.params)
		assert.Equal(t, tt.ok, ok, "%v", tt.params)
		if !tt.ok {
			assert.Contains(t, console.String(), "bad gonest.bench.runs; want a count of runs")
		} else {
			assert.Empty(t, console.String())
		}
	}
}
