package virtiofs

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		in      string
		want    Spec
		wantErr string
	}{
		{in: "/src,tag=src", want: Spec{Dir: "/src", Tag: "src"}},
		{in: ".,tag=work,ro", want: Spec{Dir: ".", Tag: "work", ReadOnly: true}},
		{in: "/usr,ro,tag=usr,cache=1h", want: Spec{Dir: "/usr", Tag: "usr", ReadOnly: true, Cache: time.Hour}},
		{in: "a,,b,tag=x", want: Spec{Dir: "a,b", Tag: "x"}},
		{in: "d,tag=" + strings.Repeat("t", TagMax), want: Spec{Dir: "d", Tag: strings.Repeat("t", TagMax)}},
		{in: "", wantErr: "empty directory"},
		{in: ",tag=x", wantErr: "empty directory"},
		{in: "d", wantErr: "no tag"},
		{in: "d,ro", wantErr: "no tag"},
		{in: "d,tag=", wantErr: "empty tag"},
		{in: "d,tag", wantErr: `unknown option "tag"`},
		{in: "d,tag=a b", wantErr: "use letters, digits"},
		{in: "d,tag=a/b", wantErr: "use letters, digits"},
		{in: "d,tag=" + strings.Repeat("t", TagMax+1), wantErr: "longer than 36 bytes"},
		{in: "d,tag=x,tag=y", wantErr: `option "tag" given twice`},
		{in: "d,tag=x,", wantErr: "empty option"},
		{in: "d,tag=x,rw", wantErr: `unknown option "rw"; options are tag=TAG, ro and cache=DURATION`},
		{in: "d,tag=x,ro=1", wantErr: `unknown option "ro=1"`},
		{in: "d,tag=x,cache=soon", wantErr: "cache=soon: want a duration"},
		{in: "d,tag=x,cache=0s", wantErr: "want a duration"},
		{in: "d,tag=x,cache=25h", wantErr: "want a duration"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSpec(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.NotContains(t, err.Error(), "\n")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			again, err := ParseSpec(got.String())
			require.NoError(t, err)
			assert.Equal(t, got, again)
		})
	}
}

func TestNewRefusesBadSpecs(t *testing.T) {
	dir := t.TempDir()
	for _, spec := range []Spec{{Dir: dir, Tag: ""}, {Dir: dir, Tag: "x", Cache: -time.Second}, {Dir: dir, Tag: "x", Cache: 48 * time.Hour}} {
		_, err := New(spec, nil)
		assert.Error(t, err, "%+v", spec)
	}
}
