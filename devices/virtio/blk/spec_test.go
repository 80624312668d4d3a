package blk

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDiskSpec(t *testing.T) {
	tests := []struct {
		in      string
		want    Spec
		wantErr string
	}{
		{in: "disk.img", want: Spec{Path: "disk.img"}},
		{in: "/images/root.ext4,ro", want: Spec{Path: "/images/root.ext4", ReadOnly: true}},
		{in: "a.img,serial=boot-disk", want: Spec{Path: "a.img", Serial: "boot-disk"}},
		{in: "a.img,serial=x,ro", want: Spec{Path: "a.img", ReadOnly: true, Serial: "x"}},
		{in: "dir,,with,,commas.img,ro", want: Spec{Path: "dir,with,commas.img", ReadOnly: true}},
		{in: "a.img,serial=a,,b", want: Spec{Path: "a.img", Serial: "a,b"}},
		{in: "a.img,serial=k=v", want: Spec{Path: "a.img", Serial: "k=v"}},
		{in: "", wantErr: `-disk "": empty path; use -disk PATH[,ro][,serial=ID]`},
		{in: ",ro", wantErr: "empty path"},
		{in: "a.img,", wantErr: "empty option"},
		{in: "a.img,,,ro", want: Spec{Path: "a.img,", ReadOnly: true}},
		{in: "a.img,rw", wantErr: `unknown option "rw"; options are ro and serial=ID`},
		{in: "a.img,ro=1", wantErr: `unknown option "ro=1"`},
		{in: "a.img,serial", wantErr: `unknown option "serial"`},
		{in: "a.img,ro,ro", wantErr: `option "ro" given twice`},
		{in: "a.img,serial=", wantErr: "empty serial"},
		{in: "a.img,serial=123456789012345678901", wantErr: "longer than 20 bytes"},
		{in: "a.img,serial=caf\xc3\xa9", wantErr: "printable ASCII"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDiskSpec(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			again, err := ParseDiskSpec(got.String())
			require.NoError(t, err)
			assert.Equal(t, got, again, "String round-trips")
		})
	}
}

// FuzzParseDiskSpec checks that parsing never panics and that every spec
// it accepts survives String and a second parse.
func FuzzParseDiskSpec(f *testing.F) {
	for _, s := range []string{"disk.img", "a,,b,ro", "x,serial=abc,ro", ",", "a,serial=,", "a,ro,ro"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseDiskSpec(s)
		if err != nil {
			return
		}
		require.NotEmpty(t, spec.Path)
		require.LessOrEqual(t, len(spec.Serial), IDBytes)
		again, err := ParseDiskSpec(spec.String())
		require.NoError(t, err)
		require.Equal(t, spec, again)
	})
}
