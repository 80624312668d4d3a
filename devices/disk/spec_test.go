package disk

import (
	"testing"

	"github.com/gonest/gonest/internal/optlist/optlisttest"
	"github.com/stretchr/testify/require"
)

func TestParseSpec(t *testing.T) {
	optlisttest.Run(t, ParseSpec, []optlisttest.Case[Spec]{
		{In: "disk.img", Want: Spec{Path: "disk.img"}},
		{In: "/images/root.ext4,ro", Want: Spec{Path: "/images/root.ext4", ReadOnly: true}},
		{In: "a.img,serial=boot-disk", Want: Spec{Path: "a.img", Serial: "boot-disk"}},
		{In: "a.img,serial=x,ro", Want: Spec{Path: "a.img", ReadOnly: true, Serial: "x"}},
		{In: "dir,,with,,commas.img,ro", Want: Spec{Path: "dir,with,commas.img", ReadOnly: true}},
		{In: "a.img,serial=a,,b", Want: Spec{Path: "a.img", Serial: "a,b"}},
		{In: "a.img,serial=k=v", Want: Spec{Path: "a.img", Serial: "k=v"}},
		{In: "", WantErr: `-disk "": empty path; use -disk PATH[,ro][,serial=ID]`},
		{In: ",ro", WantErr: "empty path"},
		{In: "a.img,", WantErr: "empty option"},
		{In: "a.img,,,ro", Want: Spec{Path: "a.img,", ReadOnly: true}},
		{In: "a.img,rw", WantErr: `unknown option "rw"; options are ro, serial=ID and if=virtio|ide`},
		{In: "a.img,ro=1", WantErr: `unknown option "ro=1"`},
		{In: "a.img,serial", WantErr: `unknown option "serial"`},
		{In: "a.img,ro,ro", WantErr: `option "ro" given twice`},
		{In: "a.img,serial=", WantErr: "empty serial"},
		{In: "a.img,serial=123456789012345678901", WantErr: "longer than 20 bytes"},
		{In: "a.img,serial=caf\xc3\xa9", WantErr: "printable ASCII"},
		{In: "a.img,if=ide", Want: Spec{Path: "a.img", Interface: IDE}},
		{In: "a.img,if=virtio", Want: Spec{Path: "a.img"}},
		{In: "a.img,ro,if=ide,serial=s1", Want: Spec{Path: "a.img", ReadOnly: true, Serial: "s1", Interface: IDE}},
		{In: "a.img,if=bogus", WantErr: `-disk "a.img,if=bogus": unknown interface "bogus"; use if=virtio or if=ide`},
		{In: "a.img,if=", WantErr: `unknown interface ""`},
		{In: "a.img,if", WantErr: `unknown option "if"`},
		{In: "a.img,if=IDE", WantErr: `unknown interface "IDE"`},
		{In: "a.img,if=ide,if=virtio", WantErr: `option "if" given twice`},
	})
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
