package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/guest/initkit"
	"github.com/gonest/gonest/guest/report"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/syncbuf"
	"github.com/gonest/gonest/launch"
	"github.com/gonest/gonest/scenario"
)

// Environment of the test binary when it plays gonest (fakeGonest).
const (
	fakeEnv     = "GONEST_INIT_TEST_FAKE_GONEST" // the verdict to report
	renameEnv   = "GONEST_INIT_TEST_RENAME"      // "old=new": a log message reworded
	lieEnv      = "GONEST_INIT_TEST_LIE"         // a log line that claims another verdict
	fakeTimeout = time.Minute
)

func TestMain(m *testing.M) {
	if v := os.Getenv(fakeEnv); v != "" {
		os.Exit(fakeGonest(v))
	}
	os.Exit(m.Run())
}

// renaming is a log handler that rewords one message, as a later edit of
// the init's code would.
type renaming struct {
	slog.Handler
	from, to string
}

func (r renaming) Handle(ctx context.Context, rec slog.Record) error {
	if rec.Message == r.from {
		rec.Message = r.to
	}
	return r.Handler.Handle(ctx, rec)
}

// fakeGonest plays `gonest run ... -messages PATH -append ...` with this
// init's own reporting code as its guest: the guest's console is stdout,
// its port writes go through gonest's message device to PATH, and the
// exit byte becomes the exit status, as under gonest.
func fakeGonest(verdict string) int {
	args := os.Args[1:]
	flagValue := func(name string) string {
		if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
			return args[i+1]
		}
		return ""
	}
	out, err := os.OpenFile(flagValue("-messages"), os.O_WRONLY, 0)
	if err != nil {
		return 2
	}
	defer out.Close()
	params := initkit.ParseCmdline(flagValue("-append"))
	var h slog.Handler = initkit.NewConsoleHandler(os.Stdout, "init: ")
	if from, to, ok := strings.Cut(os.Getenv(renameEnv), "="); ok {
		h = renaming{Handler: h, from: from, to: to}
	}
	log := slog.New(h)
	ports := report.NewLoopback(out)
	env := &scenario.Env{Log: log, Console: os.Stdout, Level: params[guestabi.ParamLevel], Params: params,
		Report: report.New(params[guestabi.ParamLevel], ports, log)}
	env.Report.Marker(guestabi.MarkerInitStarted)
	if lie := os.Getenv(lieEnv); lie != "" {
		os.Stdout.WriteString(lie + "\n")
	}
	n, _ := strconv.Atoi(verdict)
	reportVerdict(env, guestabi.Verdict(n))
	if exits := ports.Exits(); len(exits) > 0 {
		return int(exits[0])
	}
	return 0
}

// TestParentReadsTheVerdictWhateverTheLogSays runs this init's verdict
// reporting as a child level, under a gonest played by this test binary,
// and reads its verdict through package launch as a parent level does.
// The init's "verdict" log line is reworded, or a line claiming another
// verdict is added: the parent's verdict does not change, because it
// comes from the verdict message.
func TestParentReadsTheVerdictWhateverTheLogSays(t *testing.T) {
	tests := []struct {
		name    string
		verdict guestabi.Verdict
		rename  string
		lie     string
		console string
	}{
		{"as logged today", guestabi.Fail, "", "", "[G1] init: verdict code=1 verdict=fail\n"},
		{"verdict line reworded", guestabi.Fail, "verdict=scenario over", "", "[G1] init: scenario over code=1 verdict=fail\n"},
		{"verdict line reworded, pass", guestabi.Pass, "verdict=the end", "", "[G1] init: the end code=0 verdict=pass\n"},
		{"a line claims a pass", guestabi.NoKVM, "", "init: verdict code=0 verdict=pass", "[G1] init: verdict code=0 verdict=pass\n"},
	}
	kernel := filepath.Join(t.TempDir(), "vmlinuz")
	require.NoError(t, os.WriteFile(kernel, []byte("k"), 0o644))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(fakeEnv, strconv.Itoa(int(tt.verdict)))
			t.Setenv(renameEnv, tt.rename)
			t.Setenv(lieEnv, tt.lie)
			var console syncbuf.Buffer
			res, err := launch.Run(context.Background(), launch.Spec{VMM: launch.Gonest{Binary: os.Args[0]}, Kernel: kernel,
				Memory: 64 << 20, Level: "G1", Scenario: "boot", GuestReports: true, Timeout: fakeTimeout, Console: &console}, nil)
			require.NoError(t, err, console.String())
			assert.Equal(t, tt.verdict, res.Verdict)
			assert.Contains(t, console.String(), tt.console)
			if tt.rename != "" {
				assert.NotContains(t, console.String(), "init: verdict", "the log no longer says \"verdict\"")
			}
			_, ok := res.Mark(guestabi.MarkerInitStarted)
			assert.True(t, ok, "markers arrive as marker messages")
		})
	}
}
