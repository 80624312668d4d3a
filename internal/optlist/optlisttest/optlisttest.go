// Package optlisttest checks the parsers of gonest's comma-separated
// device specs (-disk, -fs, -port) the same way: a bad spec gets one line
// naming what is wrong, and a good one survives its String form.
package optlisttest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Case is one spec as the user writes it and what parsing it gives:
// Want when WantErr is empty, else an error containing WantErr.
type Case[T fmt.Stringer] struct {
	In      string
	Want    T
	WantErr string
}

// Run runs each case as a subtest of t: parse(In) returns Want, whose
// String parses back to Want, or fails with a one-line error containing
// WantErr.
func Run[T fmt.Stringer](t *testing.T, parse func(string) (T, error), cases []Case[T]) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.In, func(t *testing.T) {
			got, err := parse(tt.In)
			if tt.WantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.WantErr)
				assert.NotContains(t, err.Error(), "\n", "a bad spec gets one line")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.Want, got)
			again, err := parse(got.String())
			require.NoError(t, err, "String gives %q", got.String())
			assert.Equal(t, got, again, "String round-trips")
		})
	}
}
