package lab

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVirtiofsdArgs(t *testing.T) {
	tests := []struct {
		name  string
		share Share
		want  string
	}{
		{"writable", Share{Dir: "/tmp/w", Tag: "work"},
			"/v --socket-path=/s/fs0.sock -o source=/tmp/w -o cache=auto -o log_level=warn"},
		{"read-only: a read-only bind mount in its own mount namespace, cached in H", Share{Dir: "/usr/local/go", Tag: "goroot", ReadOnly: true},
			`unshare --mount --propagation private -- sh -c mount --bind -o ro -- "$1" "$1" && shift && exec "$@" sh /usr/local/go` +
				" /v --socket-path=/s/fs0.sock -o source=/usr/local/go -o cache=always -o log_level=warn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, strings.Join(virtiofsdArgs("/v", tt.share, "/s/fs0.sock"), " "))
		})
	}
}

// TestReadOnlyWrapper runs the read-only wrapper around touch: the share's
// directory is read-only for what the wrapper starts, and stays writable
// outside it.
func TestReadOnlyWrapper(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the read-only wrapper bind-mounts, which needs root; run the test as root")
	}
	dir := t.TempDir()
	args := append(append(append([]string{}, roWrapper...), dir), "touch", filepath.Join(dir, "in-wrapper"))
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	require.Error(t, err, "touch in the wrapper succeeded: %s", out)
	assert.Contains(t, string(out), "Read-only file system")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "outside"), nil, 0o644), "the directory stays writable outside the wrapper")
	_, err = os.Stat(filepath.Join(dir, "in-wrapper"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestUnixListening(t *testing.T) {
	procNetUnix := "Num       RefCount Protocol Flags    Type St Inode Path\n" +
		"0000000000000000: 00000002 00000000 00010000 0001 01 41211 /run/a.sock\n" +
		"0000000000000000: 00000003 00000000 00000000 0001 03 41212 /run/b.sock\n" +
		"0000000000000000: 00000002 00000000 00010000 0001 01 41213 @abstract\n" +
		"0000000000000000: 00000002 00000000 00000000 0002 01 41214\n"
	tests := []struct {
		path string
		want bool
	}{
		{"/run/a.sock", true},
		{"/run/b.sock", false}, // connected, not listening
		{"/run/c.sock", false},
		{"", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, unixListening([]byte(procNetUnix), tt.path), tt.path)
	}
}

// TestStartSharesFailures: a virtiofsd that cannot start, one that exits
// at once and one that never listens each give an error naming the share
// (with what it printed), and leave nothing running.
func TestStartSharesFailures(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
		return p
	}
	tests := []struct {
		name, bin, want string
	}{
		{"missing binary", filepath.Join(dir, "none"), "lab share work: start virtiofsd:"},
		{"exits at once", script("exits", "echo 'fuse: bad mount point' >&2; exit 1"),
			"lab share work: virtiofsd exited before it listened (exit status 1):\n  | fuse: bad mount point"},
		{"never listens", script("sleeps", "echo waiting >&2; exec sleep 60"),
			"lab share work: virtiofsd did not listen on "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Virtiofsd: tt.bin, TailLines: 5, Shares: []Share{{Dir: dir, Tag: "work"}}}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			fs, err := startShares(ctx, cfg, &strings.Builder{}, 300*time.Millisecond)
			require.Error(t, err)
			assert.Nil(t, fs)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
