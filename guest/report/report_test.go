package report

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/guestabi"
)

func TestReporterWritesEachPort(t *testing.T) {
	var out bytes.Buffer
	b := NewLoopback(&out)
	var log bytes.Buffer
	r := New("G1", b, slog.New(slog.NewTextHandler(&log, nil)))
	r.Marker(guestabi.MarkerInitStarted)
	r.Event("blk-synced", "files", "200")
	r.Result(guestabi.ResultBenchRow, "row", map[string]float64{"ratio": 0.5})
	require.NoError(t, r.Verdict(guestabi.NoKVM))
	assert.Equal(t, []byte{1}, b.Markers())
	assert.Equal(t, []byte{5}, b.Exits())
	got := b.Messages()
	require.Len(t, got, 3)
	for _, m := range got {
		assert.Equal(t, "G1", m.Level, "stamped with the level")
	}
	assert.True(t, got[0].IsEvent("blk-synced"))
	assert.Equal(t, "200", got[0].Event.Fields["files"])
	assert.Equal(t, "row", got[1].Result.Text)
	assert.Equal(t, guestabi.NoKVM, got[2].Verdict.Code)
	assert.Empty(t, log.String())
	assert.Equal(t, "G1", r.Level())
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 4, "each message and marker written out as gonest -messages does")
	m, err := guestabi.ParseMessage([]byte(lines[0]))
	require.NoError(t, err)
	assert.Equal(t, guestabi.MarkerInitStarted, m.Marker.ID)
	m, err = guestabi.ParseMessage([]byte(lines[3]))
	require.NoError(t, err)
	assert.Equal(t, got[2], m)
}

func TestReporterWithoutPorts(t *testing.T) {
	var log bytes.Buffer
	why := errors.New("ioperm: operation not permitted")
	r := &Reporter{level: "H", log: slog.New(slog.NewTextHandler(&log, nil)), why: why}
	r.Marker(guestabi.MarkerInitStarted)
	r.Event("x")
	assert.ErrorIs(t, r.Send(guestabi.VerdictMessage(guestabi.Pass)), why)
	assert.ErrorIs(t, r.Verdict(guestabi.Pass), why)
	assert.Equal(t, 1, bytes.Count(log.Bytes(), []byte("not reporting to the VMM")), "said once: %s", log.String())
}

// TestReporterForwards: a message and a marker of the level below go up
// as gonest -forward sends them: depth raised, the writer's level kept.
func TestReporterForwards(t *testing.T) {
	b := NewLoopback(nil)
	var log bytes.Buffer
	r := New("G1", b, slog.New(slog.NewTextHandler(&log, nil)))
	child := guestabi.VerdictMessage(guestabi.Pass)
	child.Level = "G2"
	require.NoError(t, r.Forward(child))
	r.ForwardMarker(0, guestabi.MarkerScenarioEnd)
	r.ForwardMarker(1, guestabi.MarkerInitStarted)
	got := b.Messages()
	require.Len(t, got, 1)
	assert.Equal(t, "G2", got[0].Level, "the writer's level, not the forwarder's")
	assert.Equal(t, 1, got[0].Depth)
	assert.Equal(t, []byte{guestabi.MarkerByte(1, guestabi.MarkerScenarioEnd), guestabi.MarkerByte(2, guestabi.MarkerInitStarted)}, b.Markers())
	assert.Error(t, r.Forward(guestabi.Message{}), "an invalid message is refused")
	assert.Empty(t, log.String())
}

// failing is Ports whose every write fails.
type failing struct{}

func (failing) OutB(uint16, byte) error    { return errors.New("port closed") }
func (failing) OutSB(uint16, []byte) error { return errors.New("port closed") }

func TestReporterLogsWriteErrors(t *testing.T) {
	var log bytes.Buffer
	r := New("G2", failing{}, slog.New(slog.NewTextHandler(&log, nil)))
	r.Marker(guestabi.MarkerScenarioEnd)
	r.Event("console-ready")
	assert.Error(t, r.Verdict(guestabi.Fail))
	assert.Contains(t, log.String(), "marker not written")
	assert.Contains(t, log.String(), "event not sent")
	assert.Error(t, r.Send(guestabi.Message{}), "an invalid message is refused before any write")
}

// TestLoopbackDropsWhatGonestDrops: other text and broken messages on the
// message port never reach Out.
func TestLoopbackDropsWhatGonestDrops(t *testing.T) {
	var out bytes.Buffer
	l := NewLoopback(&out)
	require.NoError(t, l.OutSB(guestabi.MessagePort, []byte("BIOS text\n@gonest {\"v\":1}\n"+strings.Repeat("x", 5000)+"\n")))
	assert.Empty(t, l.Messages())
	assert.Empty(t, out.String())
}

// TestReporterMarkersAsMessages: under a VMM without a marker device, the
// markers go to the message port as marker messages, stamped with the
// level, and nothing to the marker port.
func TestReporterMarkersAsMessages(t *testing.T) {
	b := NewLoopback(nil)
	var log bytes.Buffer
	r := New("H", b, slog.New(slog.NewTextHandler(&log, nil)))
	r.MarkersAsMessages()
	r.Marker(guestabi.MarkerInitStarted)
	r.Marker(guestabi.MarkerScenarioEnd)
	require.NoError(t, r.Verdict(guestabi.Pass))
	assert.Empty(t, b.Markers(), "no marker byte")
	got := b.Messages()
	require.Len(t, got, 3)
	for i, want := range []guestabi.Marker{guestabi.MarkerInitStarted, guestabi.MarkerScenarioEnd} {
		require.Equal(t, guestabi.MsgMarker, got[i].Type)
		assert.Equal(t, want, got[i].Marker.ID)
		assert.Equal(t, "H", got[i].Level)
		assert.Equal(t, 0, got[i].Depth)
	}
	assert.Equal(t, guestabi.Pass, got[2].Verdict.Code)
	assert.Empty(t, log.String())

	f := New("H", failing{}, slog.New(slog.NewTextHandler(&log, nil)))
	f.MarkersAsMessages()
	f.Marker(guestabi.MarkerInitStarted)
	assert.Contains(t, log.String(), "marker not written")
}
