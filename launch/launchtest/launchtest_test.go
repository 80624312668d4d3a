package launchtest

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
)

// TestSendQuotes: a message with a quote in it reaches Run intact.
func TestSendQuotes(t *testing.T) {
	m := guestabi.ResultMessage(guestabi.ResultBenchRow, `it's "quoted" and 100%`, nil)
	out, err := exec.Command("sh", "-c", strings.Replace(Send(m), ">$MSG", "", 1)).Output()
	require.NoError(t, err)
	got, err := guestabi.ParseMessage(out)
	require.NoError(t, err)
	assert.Equal(t, m.Result, got.Result)

	kernel, err := Kernel(t.TempDir())
	require.NoError(t, err)
	res, err := launch.Run(context.Background(), launch.Spec{VMM: Script{Sh: Send(m) + "; echo $CMDLINE"}, Kernel: kernel,
		Memory: 16 << 20, Scenario: "x"}, nil)
	require.NoError(t, err)
	require.Len(t, res.Messages, 1)
	assert.Equal(t, m.Result, res.Messages[0].Result)
	assert.Equal(t, []string{"gonest.scenario=x gonest.level=guest"}, res.Tails["guest"])
}
