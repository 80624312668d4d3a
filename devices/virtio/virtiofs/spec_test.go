package virtiofs

import (
	"strings"
	"testing"
	"time"

	"github.com/gonest/gonest/internal/optlist/optlisttest"
	"github.com/stretchr/testify/assert"
)

func TestParseSpec(t *testing.T) {
	optlisttest.Run(t, ParseSpec, []optlisttest.Case[Spec]{
		{In: "/src,tag=src", Want: Spec{Dir: "/src", Tag: "src"}},
		{In: ".,tag=work,ro", Want: Spec{Dir: ".", Tag: "work", ReadOnly: true}},
		{In: "/usr,ro,tag=usr,cache=1h", Want: Spec{Dir: "/usr", Tag: "usr", ReadOnly: true, Cache: time.Hour}},
		{In: "a,,b,tag=x", Want: Spec{Dir: "a,b", Tag: "x"}},
		{In: "d,tag=" + strings.Repeat("t", TagMax), Want: Spec{Dir: "d", Tag: strings.Repeat("t", TagMax)}},
		{In: "", WantErr: "empty directory"},
		{In: ",tag=x", WantErr: "empty directory"},
		{In: "d", WantErr: "no tag"},
		{In: "d,ro", WantErr: "no tag"},
		{In: "d,tag=", WantErr: "empty tag"},
		{In: "d,tag", WantErr: `unknown option "tag"`},
		{In: "d,tag=a b", WantErr: "use letters, digits"},
		{In: "d,tag=a/b", WantErr: "use letters, digits"},
		{In: "d,tag=" + strings.Repeat("t", TagMax+1), WantErr: "longer than 36 bytes"},
		{In: "d,tag=x,tag=y", WantErr: `option "tag" given twice`},
		{In: "d,tag=x,", WantErr: "empty option"},
		{In: "d,tag=x,rw", WantErr: `unknown option "rw"; options are tag=TAG, ro and cache=DURATION`},
		{In: "d,tag=x,ro=1", WantErr: `unknown option "ro=1"`},
		{In: "d,tag=x,cache=soon", WantErr: "cache=soon: want a duration"},
		{In: "d,tag=x,cache=0s", WantErr: "want a duration"},
		{In: "d,tag=x,cache=25h", WantErr: "want a duration"},
	})
}

func TestNewRefusesBadSpecs(t *testing.T) {
	dir := t.TempDir()
	for _, spec := range []Spec{{Dir: dir, Tag: ""}, {Dir: dir, Tag: "x", Cache: -time.Second}, {Dir: dir, Tag: "x", Cache: 48 * time.Hour}} {
		_, err := New(spec, nil)
		assert.Error(t, err, "%+v", spec)
	}
}
