package guestabi

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEncodeMessage(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		want string
	}{
		{"verdict", Message{Level: "G2", Type: MsgVerdict, Verdict: &VerdictBody{Code: Pass, Name: "pass"}},
			`@gonest {"v":1,"depth":0,"level":"G2","type":"verdict","verdict":{"code":0,"name":"pass"}}`},
		{"marker, forwarded", MarkerMessage(MarkerScenarioEnd).Forwarded(),
			`@gonest {"v":1,"depth":1,"type":"marker","marker":{"id":4,"name":"scenario end"}}`},
		{"event with fields, sorted", EventMessage("blk-synced", "took", "1.2s", "files", "200"),
			`@gonest {"v":1,"depth":0,"type":"event","event":{"name":"blk-synced","fields":{"files":"200","took":"1.2s"}}}`},
		{"result", ResultMessage(ResultBenchRow, "lab G1 boot: ratio 0.58 → goal", map[string]float64{"ratio": 0.58}),
			`@gonest {"v":1,"depth":0,"type":"result","result":{"name":"bench-row","text":"lab G1 boot: ratio 0.58 → goal","metrics":{"ratio":0.58}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, err := EncodeMessage(tt.msg)
			require.NoError(t, err)
			assert.Equal(t, tt.want+"\n", string(line))
			back, err := ParseMessage(line)
			require.NoError(t, err)
			want := tt.msg
			want.V = MessageVersion
			assert.Equal(t, want, back, "the parser reads back what the encoder wrote")
		})
	}
}

func TestVerdictMessage(t *testing.T) {
	m := VerdictMessage(NoKVM)
	assert.Equal(t, MsgVerdict, m.Type)
	assert.Equal(t, &VerdictBody{Code: NoKVM, Name: "no kvm"}, m.Verdict)
	assert.True(t, EventMessage("x").IsEvent("x"))
	assert.False(t, EventMessage("x").IsEvent("y"))
	assert.False(t, m.IsEvent("x"))
}

func TestParseMessageRefuses(t *testing.T) {
	long := `@gonest {"v":1,"depth":0,"type":"result","result":{"name":"r","text":"` + strings.Repeat("x", MaxMessageLine) + `"}}`
	tests := []struct {
		name, line, want string
	}{
		{"no prefix", `{"v":1,"type":"verdict","verdict":{"code":0}}`, "not a message line"},
		{"a log line", "init: verdict code=0 verdict=pass", "not a message line"},
		{"prefix inside a line", `[G1] @gonest {"v":1}`, "not a message line"},
		{"too long", long, "longer than 4096"},
		{"not JSON", "@gonest verdict=pass", "invalid character"},
		{"two objects", `@gonest {"v":1,"type":"marker","marker":{"id":1,"name":"x"}} {}`, "text after the JSON object"},
		{"cut short", `@gonest {"v":1,"type":"verdict"`, "unexpected EOF"},
		{"other version", `@gonest {"v":2,"type":"verdict","verdict":{"code":0,"name":"pass"}}`, "version 2"},
		{"no version", `@gonest {"type":"verdict","verdict":{"code":0,"name":"pass"}}`, "version 0"},
		{"unknown type", `@gonest {"v":1,"type":"shell","event":{"name":"x"}}`, `type "shell" without its body`},
		{"type without body", `@gonest {"v":1,"type":"verdict"}`, "without its body"},
		{"two bodies", `@gonest {"v":1,"type":"verdict","verdict":{"code":0,"name":"p"},"event":{"name":"x"}}`, "2 bodies"},
		{"verdict too big", `@gonest {"v":1,"type":"verdict","verdict":{"code":200,"name":"p"}}`, "above 127"},
		{"verdict out of byte range", `@gonest {"v":1,"type":"verdict","verdict":{"code":300,"name":"p"}}`, "cannot unmarshal"},
		{"negative depth", `@gonest {"v":1,"depth":-1,"type":"marker","marker":{"id":1,"name":"x"}}`, "depth -1"},
		{"deep", `@gonest {"v":1,"depth":16,"type":"marker","marker":{"id":1,"name":"x"}}`, "depth 16"},
		{"marker 0", `@gonest {"v":1,"type":"marker","marker":{"id":0,"name":"x"}}`, "marker 0 outside"},
		{"marker 64", `@gonest {"v":1,"type":"marker","marker":{"id":64,"name":"x"}}`, "marker 64 outside"},
		{"level with a space", `@gonest {"v":1,"level":"G 1","type":"marker","marker":{"id":1,"name":"x"}}`, "bad level name"},
		{"event without name", `@gonest {"v":1,"type":"event","event":{"name":""}}`, "bad event name"},
		{"control character", `@gonest {"v":1,"type":"event","event":{"name":"x","fields":{"a":"\u001b[2J"}}}`, "control character U+001B"},
		{"newline in text", `@gonest {"v":1,"type":"result","result":{"name":"r","text":"a\nb"}}`, "control character U+000A"},
		{"bad field name", `@gonest {"v":1,"type":"event","event":{"name":"x","fields":{"a b":"1"}}}`, "bad field name"},
		{"bad metric name", `@gonest {"v":1,"type":"result","result":{"name":"r","metrics":{"":1}}}`, "bad metric name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMessage([]byte(tt.line))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			if tt.want == "not a message line" {
				assert.True(t, errors.Is(err, ErrNotMessage))
			} else {
				assert.False(t, errors.Is(err, ErrNotMessage), "a broken message is not other text")
			}
		})
	}
}

func TestParseMessageTakesCRLFAndUnknownFields(t *testing.T) {
	m, err := ParseMessage([]byte("@gonest {\"v\":1,\"type\":\"marker\",\"marker\":{\"id\":2,\"name\":\"modules loaded\"},\"new\":true}\r\n"))
	require.NoError(t, err, "a field added by a newer writer is ignored")
	assert.Equal(t, MarkerModulesLoaded, m.Marker.ID)
}

func TestEncodeMessageRefuses(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		want string
	}{
		{"empty", Message{}, "without its body"},
		{"NaN metric", ResultMessage("r", "", map[string]float64{"x": math.NaN()}), "metric x is NaN"},
		{"infinite metric", ResultMessage("r", "", map[string]float64{"x": math.Inf(1)}), "metric x is +Inf"},
		{"too long", ResultMessage("r", strings.Repeat("y", MaxMessageLine), nil), "longer than 4096"},
		{"bad level", Message{Level: "H\n", Type: MsgMarker, Marker: &MarkerBody{ID: 1}}, "bad level name"},
		{"too many fields", EventMessage("x", manyFields(33)...), "33 fields, at most 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := EncodeMessage(tt.msg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// manyFields returns n distinct key, value pairs.
func manyFields(n int) []string {
	var kv []string
	for i := range n {
		kv = append(kv, fmt.Sprintf("k%d", i), "v")
	}
	return kv
}

func TestForwardedSaturates(t *testing.T) {
	m := VerdictMessage(Pass)
	for range MaxMessageDepth + 3 {
		m = m.Forwarded()
	}
	assert.Equal(t, MaxMessageDepth, m.Depth)
	_, err := EncodeMessage(m)
	assert.NoError(t, err)
}

// FuzzParseMessage feeds arbitrary lines to the parser: it never panics,
// and whatever it accepts encodes again to a line it reads back the same.
func FuzzParseMessage(f *testing.F) {
	for _, m := range []Message{VerdictMessage(Fail), MarkerMessage(MarkerInitStarted), EventMessage("console-ready", "bytes", "65536"),
		ResultMessage(ResultBenchRow, "row", map[string]float64{"ratio": 1.5})} {
		line, err := EncodeMessage(m)
		require.NoError(f, err)
		f.Add(line)
	}
	f.Add([]byte("@gonest {}"))
	f.Add([]byte("@gonest {\"v\":1,\"type\":\"event\",\"event\":{\"name\":\"x\",\"fields\":{\"a\":\"\\ud800\"}}}"))
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := ParseMessage(line)
		if err != nil {
			return
		}
		again, err := EncodeMessage(m)
		require.NoError(t, err, "an accepted message encodes: %q", line)
		assert.LessOrEqual(t, len(again)-1, MaxMessageLine)
		back, err := ParseMessage(again)
		require.NoError(t, err)
		assert.Equal(t, m, back)
	})
}
