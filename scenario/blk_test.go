package scenario

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/guest/initkit"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/diskfiles"
	"github.com/gonest/gonest/launch/launchtest"
)

// TestSigtermNext plays gonest with a shell script: it reports G1's sync
// and exits as the test case says on SIGTERM (its trap is set before the
// event, so the signal cannot beat it).
func TestSigtermNext(t *testing.T) {
	synced := launchtest.Send(guestabi.EventMessage(eventBlkSynced, "files", "200"))
	tests := []struct {
		name   string
		script string
		want   guestabi.Verdict
		log    string
	}{
		{"exits 143 on SIGTERM after the sync event",
			`trap 'exit 143' TERM; echo "init: blk sync returned"; ` + synced + `; while :; do sleep 0.05; done`,
			guestabi.Pass, "gonest exited 143 on SIGTERM"},
		{"exits 0 on SIGTERM",
			`trap 'exit 0' TERM; echo writing; ` + synced + `; while :; do sleep 0.05; done`,
			guestabi.Fail, "did not exit 143"},
		{"ends before the sync event",
			`echo "init: something else"; exit 143`,
			guestabi.Fail, "ended before G1 reported its sync"},
		{"a log line is no event",
			`echo "init: blk sync returned files=200"; exit 1`,
			guestabi.Fail, "ended before G1 reported its sync"},
		{"a deeper level's event is not G1's",
			`echo G1; ` + launchtest.Send(guestabi.EventMessage(eventBlkSynced).Forwarded()) + `; exit 1`,
			guestabi.Fail, "ended before G1 reported its sync"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, console := testEnv("H")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			got := sigtermNext(ctx, env, scriptSpec(t, env, tt.script))
			assert.Equal(t, tt.want, got, console.String())
			assert.Contains(t, console.String(), tt.log)
			if tt.want != guestabi.Pass {
				assert.Contains(t, console.String(), "--- last ", "a failure repeats the child's tail")
			}
		})
	}
}

func TestWriteAndCheckFiles(t *testing.T) {
	root := t.TempDir()
	var console bytes.Buffer
	env := &Env{Log: initkit.NewLogger(&console, "init: "), Console: &console}
	files := diskfiles.Written(30, 99)
	require.NoError(t, writeFiles(env, root, files))
	assert.Contains(t, console.String(), "init: blk: files written files=30")

	c := &checks{env: env}
	checkFiles(c, root, files, "written files")
	assert.Equal(t, guestabi.Pass, c.verdict())

	// Flip one byte of a non-empty file, remove another: both are caught.
	victim := filepath.Join(root, filepath.FromSlash(files[9].Path))
	data, err := os.ReadFile(victim)
	require.NoError(t, err)
	data[len(data)/2] ^= 0x40
	require.NoError(t, os.WriteFile(victim, data, 0o644))
	require.NoError(t, os.Remove(filepath.Join(root, filepath.FromSlash(files[3].Path))))
	c = &checks{env: env}
	checkFiles(c, root, files, "written files")
	assert.Equal(t, guestabi.Fail, c.verdict())
	assert.Len(t, c.failed, 2)
	assert.Contains(t, console.String(), "bad=2")

	// writeFile never overwrites: O_EXCL.
	assert.Error(t, writeFile(root, files[0], true))
}

func TestCheckKnown(t *testing.T) {
	root := t.TempDir()
	var console bytes.Buffer
	env := &Env{Log: initkit.NewLogger(&console, "init: "), Console: &console}
	known := diskfiles.Known()
	require.NoError(t, writeFiles(env, root, known))
	sums, err := os.Create(filepath.Join(root, filepath.FromSlash(diskfiles.SumsFile)))
	require.NoError(t, err)
	require.NoError(t, diskfiles.WriteSums(sums, diskfiles.KnownDir, known))
	require.NoError(t, sums.Close())

	c := &checks{env: env}
	checkKnown(c, root)
	assert.Equal(t, guestabi.Pass, c.verdict(), console.String())

	// A SHA256SUMS from another generator is reported, not trusted.
	require.NoError(t, os.WriteFile(filepath.Join(root, filepath.FromSlash(diskfiles.SumsFile)),
		[]byte(strings.Repeat("00", 32)+"  "+known[0].Name()+"\n"), 0o644))
	c = &checks{env: env}
	checkKnown(c, root)
	assert.Equal(t, guestabi.Fail, c.verdict())
	assert.Contains(t, console.String(), "SHA256SUMS lists other files")
	assert.Contains(t, console.String(), "SHA256SUMS disagrees")

	c = &checks{env: env}
	checkKnown(c, t.TempDir())
	assert.Equal(t, []string{"open the known files' sums"}, c.failed)
}
