package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		err  string
	}{
		{in: "512M", want: 512 << 20},
		{in: "512m", want: 512 << 20},
		{in: "512Mi", want: 512 << 20},
		{in: "512MiB", want: 512 << 20},
		{in: "512MB", want: 512 << 20},
		{in: "2G", want: 2 << 30},
		{in: "1T", want: 1 << 40},
		{in: "65536K", want: 64 << 20},
		{in: "1024", want: 1 << 30},
		{in: " 256M ", want: 256 << 20},
		{in: "512iM", err: "is not a size"},
		{in: "12Q", err: "is not a size"},
		{in: "-5", err: "is not a size"},
		{in: "1.5G", err: "is not a size"},
		{in: "M", err: "is not a size"},
		{in: "0", err: "is zero"},
		{in: "", err: "empty size"},
		{in: "99999999999T", err: "too large"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSize(tc.in)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
