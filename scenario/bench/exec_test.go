package bench

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/launch"
	"github.com/gonest/gonest/vmexec/job"
)

func TestFSHelper(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"tree/a", "tree/b"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	for _, f := range []string{"tree/a/1", "tree/a/2", "tree/b/3"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "big"), make([]byte, 3<<20+5), 0o644))
	out := captureStdout(t, func() {
		assert.Equal(t, 0, FSHelper([]string{filepath.Join(dir, "tree"), filepath.Join(dir, "big")}))
	})
	f, err := parseFS(out)
	require.NoError(t, err, "%q", out)
	assert.Equal(t, 6.0, f.entries, "the tree, two directories, three files")
	assert.Equal(t, float64(3<<20+5), f.bytes)
	assert.Positive(t, f.filesPerSec())
	assert.Positive(t, f.mbPerSec())
	assert.Equal(t, 2, FSHelper([]string{"one"}))
	assert.Equal(t, 1, FSHelper([]string{filepath.Join(dir, "none"), filepath.Join(dir, "big")}))
}

func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	old := os.Stdout
	os.Stdout = w
	f()
	os.Stdout = old
	w.Close()
	b := make([]byte, 4096)
	n, _ := r.Read(b)
	return string(b[:n])
}

func TestParseFS(t *testing.T) {
	f, err := parseFS("entries=10101 walk_s=2.0000 bytes=268435456 read_s=0.5000")
	require.NoError(t, err)
	assert.InDelta(t, 5050.5, f.filesPerSec(), 1e-9)
	assert.InDelta(t, 536.870912, f.mbPerSec(), 1e-9)
	for _, bad := range []string{"", "entries=1 walk_s=0 bytes=1 read_s=1", "entries=x walk_s=1 bytes=1 read_s=1", "entries=1 walk_s=1 bytes=1"} {
		_, err := parseFS(bad)
		assert.Error(t, err, "%q", bad)
	}
}

// TestQEMUExecCommand: the QEMU side shares the root read-only and each
// writable directory over virtio-9p-pci and names the console ports as
// gonest exec does.
func TestQEMUExecCommand(t *testing.T) {
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "args")
	// A QEMU that records its arguments and exits as after the guest wrote
	// 0 to isa-debug-exit.
	qemu := filepath.Join(dir, "qemu")
	require.NoError(t, os.WriteFile(qemu, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" >"+argsFile+"\nexit 1\n"), 0o755))
	kernel := filepath.Join(dir, "vmlinuz")
	require.NoError(t, os.WriteFile(kernel, []byte("k"), 0o644))
	vmm := &qemuExecVMM{binary: qemu, job: []byte(`{"args":["x"]}` + "\n"), root: "/",
		shares: []job.Share{{Tag: "gonest.rw0", Path: "/tmp/work"}}, stdout: filepath.Join(dir, "out"), stderr: filepath.Join(dir, "err")}
	res, err := launch.Run(context.Background(), launch.Spec{VMM: vmm, Kernel: kernel, Initrd: kernel, Memory: 512 << 20,
		Append: "quiet gonest.exec.root=9p"}, nil)
	require.NoError(t, err)
	assert.Equal(t, 1, res.ExitCode)
	b, err := os.ReadFile(argsFile)
	require.NoError(t, err)
	args := strings.ReplaceAll(string(b), "\n", " ")
	for _, want := range []string{
		"-M microvm,pcie=on -enable-kvm -cpu host -m 512M -smp 1",
		"console=ttyS0", "quiet gonest.exec.root=9p",
		"-fsdev local,id=root,path=/,security_model=none,multidevs=remap,readonly=on -device virtio-9p-pci,fsdev=root,mount_tag=gonest.root",
		"-fsdev local,id=rw0,path=/tmp/work,security_model=none,multidevs=remap -device virtio-9p-pci,fsdev=rw0,mount_tag=gonest.rw0",
		"socket,id=ctl,path=", "virtserialport,chardev=ctl,name=gonest.ctl", "virtserialport,chardev=in,name=gonest.stdin",
		"file,id=out,path=" + filepath.Join(dir, "out"), "virtserialport,chardev=out,name=gonest.stdout",
		"file,id=err,path=" + filepath.Join(dir, "err"), "virtserialport,chardev=err,name=gonest.stderr", "isa-debug-exit,iobase=0xf4",
	} {
		assert.Contains(t, args, want)
	}
}

// TestServeJob: QEMU's control chardev connects and reads the job's line;
// the connection stays open after it.
func TestServeJob(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := &qemuExecVMM{job: []byte(`{"args":["x"]}` + "\n")}
	path, err := v.serveJob(ctx, filepath.Join(t.TempDir(), "ctl.sock"))
	require.NoError(t, err)
	conn, err := net.Dial("unix", path)
	require.NoError(t, err)
	defer conn.Close()
	got, err := bufio.NewReader(conn).ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, string(v.job), got)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, err = conn.Read(make([]byte, 1))
	var ne net.Error
	assert.True(t, errors.As(err, &ne) && ne.Timeout(), "still open after the job: %v", err)
}

func TestReadExecSizes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		params  map[string]string
		want    execSizes
		wantErr string
	}{
		{"defaults", nil, execSizes{files: 2000, mib: 64}, ""},
		{"set", map[string]string{"gonest.bench.files": "2000", "gonest.bench.mib": "64"}, execSizes{files: 2000, mib: 64}, ""},
		{"no files", map[string]string{"gonest.bench.files": "0"}, execSizes{}, "gonest.bench.files"},
		{"not a number", map[string]string{"gonest.bench.mib": "1G"}, execSizes{}, "gonest.bench.mib"},
		{"too large", map[string]string{"gonest.bench.mib": "4097"}, execSizes{}, "from 1 to 4096"},
		{"negative", map[string]string{"gonest.bench.files": "-5"}, execSizes{}, "gonest.bench.files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readExecSizes(func(key, def string) string {
				if v, ok := tc.params[key]; ok {
					return v
				}
				return def
			})
			if tc.wantErr != "" {
				assert.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestExecSizesBound(t *testing.T) {
	assert.Equal(t, 5*time.Minute+500*time.Second+192*time.Second, execSizes{files: 2000, mib: 64}.bound())
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{1: "1", 999: "999", 1000: "1,000", 10000: "10,000", 1234567: "1,234,567"} {
		assert.Equal(t, want, thousands(n), "%d", n)
	}
}
