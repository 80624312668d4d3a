package optlist

import (
	"strings"
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

func TestCheckWord(t *testing.T) {
	tests := []struct{ in, wantErr string }{
		{"gonest.stdout", ""},
		{"A-z_0.9", ""},
		{"1234567890123", ""},
		{"", "empty tag"},
		{"12345678901234", "is longer than 13 bytes"},
		{"a b", "use letters, digits"},
		{"a/b", "use letters, digits"},
		{"a,b", "use letters, digits"},
		{"caf\xc3\xa9", "use letters, digits"},
	}
	for _, tt := range tests {
		err := CheckWord("tag", tt.in, 13)
		if tt.wantErr == "" {
			assert.NoError(t, err, tt.in)
			continue
		}
		if assert.Error(t, err, tt.in) {
			assert.Contains(t, err.Error(), tt.wantErr)
		}
	}
	err := CheckWord("port name", strings.Repeat("n", 300), 255)
	assert.Less(t, len(err.Error()), 100, "a long name is cut in the message")
}
