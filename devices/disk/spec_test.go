package disk

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSpec(t *testing.T) {
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
		{in: "a.img,rw", wantErr: `unknown option "rw"; options are ro, serial=ID and if=virtio|ide`},
		{in: "a.img,ro=1", wantErr: `unknown option "ro=1"`},
		{in: "a.img,serial", wantErr: `unknown option "serial"`},
		{in: "a.img,ro,ro", wantErr: `option "ro" given twice`},
		{in: "a.img,serial=", wantErr: "empty serial"},
		{in: "a.img,serial=123456789012345678901", wantErr: "longer than 20 bytes"},
		{in: "a.img,serial=caf\xc3\xa9", wantErr: "printable ASCII"},
		{in: "a.img,if=ide", want: Spec{Path: "a.img", Interface: IDE}},
		{in: "a.img,if=virtio", want: Spec{Path: "a.img"}},
		{in: "a.img,ro,if=ide,serial=s1", want: Spec{Path: "a.img", ReadOnly: true, Serial: "s1", Interface: IDE}},
		{in: "a.img,if=bogus", wantErr: `-disk "a.img,if=bogus": unknown interface "bogus"; use if=virtio or if=ide`},
		{in: "a.img,if=", wantErr: `unknown interface ""`},
		{in: "a.img,if", wantErr: `unknown option "if"`},
		{in: "a.img,if=IDE", wantErr: `unknown interface "IDE"`},
		{in: "a.img,if=ide,if=virtio", wantErr: `option "if" given twice`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSpec(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			again, err := ParseSpec(got.String())
			require.NoError(t, err)
			assert.Equal(t, got, again, "String round-trips")
		})
	}
}

// FuzzParseSpec checks that parsing never panics and that every spec
// it accepts survives String and a second parse.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"disk.img", "a,,b,ro", "x,serial=abc,ro", ",", "a,serial=,", "a,ro,ro", "d.img,if=ide,ro", "e,if=virtio"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseSpec(s)
		if err != nil {
			return
		}
		require.NotEmpty(t, spec.Path)
		require.LessOrEqual(t, len(spec.Serial), SerialBytes)
		again, err := ParseSpec(spec.String())
		require.NoError(t, err)
		require.Equal(t, spec, again)
	})
}
