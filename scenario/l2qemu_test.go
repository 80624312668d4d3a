package scenario

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOEMID(t *testing.T) {
	header := func(oem string) []byte {
		b := make([]byte, 36)
		copy(b, "FACP")
		copy(b[10:16], oem)
		return b
	}
	tests := []struct {
		name  string
		table []byte
		want  string
		err   string
	}{
		{"qemu", header("BOCHS "), "BOCHS", ""},
		{"nul padded", header("GONE"), "GONE", ""},
		{"full", header("ABCDEF"), "ABCDEF", ""},
		{"short", make([]byte, 35), "", "shorter than an ACPI header"},
		{"empty", nil, "", "shorter than an ACPI header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := oemID(tt.table)
			if tt.err != "" {
				assert.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
