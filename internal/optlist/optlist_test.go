package optlist

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", []string{""}},
		{"a", []string{"a"}},
		{"a,b", []string{"a", "b"}},
		{"a,,b", []string{"a,b"}},
		{"a,,,b", []string{"a,", "b"}},
		{"a,", []string{"a", ""}},
		{",a", []string{"", "a"}},
		{"a,b=c,,d,ro", []string{"a", "b=c,d", "ro"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, Split(tt.in))
		})
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	for _, v := range []string{"", "plain", "a,b", ",,", "x,"} {
		assert.Equal(t, []string{v, "next"}, Split(Escape(v)+",next"), v)
	}
}
