package lab

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQEMUArgs(t *testing.T) {
	cfg := Config{Kernel: "/i/vmlinuz", Initrd: "/i/h.cpio.gz", Scenario: "kvmtests", Append: "gonest.testrun=TestX",
		Memory: "2G", CPUs: 1, Disks: []string{"/i/disk.ext4", "/odd,name.img"}}
	got := strings.Join(qemuArgs(cfg, "/tmp/m.sock", nil), " ")
	want := "-accel tcg -cpu EPYC,+svm -smp 1 -m 2G -nographic -no-reboot -nic none -kernel /i/vmlinuz -initrd /i/h.cpio.gz" +
		" -append console=ttyS0 panic=-1 quiet highres=off nohz=off no_timer_check gonest.scenario=kvmtests gonest.level=H gonest.testrun=TestX" +
		" -device isa-debug-exit,iobase=0xf4,iosize=0x04" +
		" -chardev socket,id=markers,path=/tmp/m.sock -device isa-debugcon,iobase=0xf8,chardev=markers" +
		" -drive file=/i/disk.ext4,if=none,id=disk0,format=raw,snapshot=on -device virtio-blk-pci,drive=disk0,serial=disk.ext4" +
		" -drive file=/odd,,name.img,if=none,id=disk1,format=raw,snapshot=on -device virtio-blk-pci,drive=disk1,serial=odd,,name.img"
	assert.Equal(t, want, got)
}

func TestQEMUArgsWritableDisks(t *testing.T) {
	cfg := Config{Kernel: "k", Initrd: "i", Scenario: "blk", Memory: "1G", CPUs: 1, WritableDisks: true,
		Disks: []string{"/t/blk-rw.ext4", "/t/a-name-longer-than-twenty.img"}}
	got := strings.Join(qemuArgs(cfg, "", nil), " ")
	assert.NotContains(t, got, "snapshot")
	assert.Contains(t, got, "-drive file=/t/blk-rw.ext4,if=none,id=disk0,format=raw -device virtio-blk-pci,drive=disk0,serial=blk-rw.ext4")
	assert.Contains(t, got, "-device virtio-blk-pci,drive=disk1,serial=a-name-longer-than-t")
	assert.True(t, strings.HasSuffix(got, "serial=a-name-longer-than-t"), "cut to 20 bytes")
}

func TestQEMUArgsShares(t *testing.T) {
	cfg := Config{Kernel: "k", Initrd: "i", Scenario: "exec", Memory: "2G", CPUs: 1,
		Shares: []Share{{Dir: "/usr/local/go", Tag: "goroot", ReadOnly: true}, {Dir: "/tmp/w", Tag: "work"}}}
	got := strings.Join(qemuArgs(cfg, "", []string{"/run/fs0.sock", "/run/o,dd.sock"}), " ")
	assert.Contains(t, got, "-m 2G ")
	assert.Contains(t, got, " -object memory-backend-memfd,id=mem,size=2G,share=on -machine memory-backend=mem"+
		" -chardev socket,id=fs0,path=/run/fs0.sock -device vhost-user-fs-pci,chardev=fs0,tag=goroot"+
		" -chardev socket,id=fs1,path=/run/o,,dd.sock -device vhost-user-fs-pci,chardev=fs1,tag=work")
	assert.NotContains(t, got, "-virtfs")
	assert.NotContains(t, strings.Join(qemuArgs(Config{Kernel: "k", Initrd: "i", Scenario: "x", Memory: "1G"}, "", nil), " "),
		"memory-backend", "no shares, no shared memory")
}

func TestQEMUArgsWithoutMarkersOrDisks(t *testing.T) {
	got := qemuArgs(Config{Kernel: "k", Initrd: "i", Scenario: "shell", Memory: "1G", CPUs: 2}, "", nil)
	assert.NotContains(t, got, "-chardev")
	assert.NotContains(t, got, "-drive")
	assert.Contains(t, got, "console=ttyS0 panic=-1 quiet highres=off nohz=off no_timer_check gonest.scenario=shell gonest.level=H")
}

func TestProgress(t *testing.T) {
	assert.Equal(t, "no boot marker arrived: the kernel never reached gonest-init", progress(nil))
	assert.Equal(t, `last marker "scenario start" at 12.5s`,
		progress([]Mark{{Marker: guestabi.MarkerInitStarted, At: 5e9}, {Marker: guestabi.MarkerScenarioStart, At: 12.5e9}}))
	assert.Equal(t, `last marker G2 "init started" at 80.0s`,
		progress([]Mark{{Marker: guestabi.MarkerScenarioStart, At: 12.5e9}, {Marker: guestabi.MarkerInitStarted, Depth: 2, At: 80e9}}))
}

func TestDecodeMark(t *testing.T) {
	tests := []struct {
		b         byte
		want      Mark
		level, in string
	}{
		{1, Mark{Marker: guestabi.MarkerInitStarted, At: 7}, "H", `"init started"`},
		{0x44, Mark{Marker: guestabi.MarkerScenarioEnd, Depth: 1, At: 7}, "G1", `G1 "scenario end"`},
		{0x82, Mark{Marker: guestabi.MarkerModulesLoaded, Depth: 2, At: 7}, "G2", `G2 "modules loaded"`},
		{0xc3, Mark{Marker: guestabi.MarkerScenarioStart, Depth: 3, At: 7}, "G3", `G3 "scenario start"`},
		{guestabi.ForwardMarker(guestabi.ForwardMarker(1)), Mark{Marker: guestabi.MarkerInitStarted, Depth: 2, At: 7}, "G2", `G2 "init started"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			depth, m := guestabi.SplitMarker(tt.b)
			got := Mark{Marker: m, Depth: depth, At: 7}
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.level, got.Level())
			assert.Equal(t, tt.in, got.String())
		})
	}
}

func TestResultMarkAt(t *testing.T) {
	r := Result{Marks: []Mark{
		{Marker: guestabi.MarkerInitStarted, Depth: 1, At: 3},
		{Marker: guestabi.MarkerInitStarted, At: 1},
		{Marker: guestabi.MarkerScenarioEnd, Depth: 2, At: 9},
	}}
	at, ok := r.Mark(guestabi.MarkerInitStarted)
	assert.True(t, ok)
	assert.Equal(t, time.Duration(1), at, "Mark is H's own marker")
	at, ok = r.MarkAt(1, guestabi.MarkerInitStarted)
	assert.True(t, ok)
	assert.Equal(t, time.Duration(3), at)
	_, ok = r.MarkAt(2, guestabi.MarkerInitStarted)
	assert.False(t, ok)
	assert.True(t, sawMarker(r.Marks, guestabi.MarkerInitStarted))
	assert.False(t, sawMarker(r.Marks, guestabi.MarkerScenarioEnd), "G2's scenario end is not H's")
}

func TestQuoteArgs(t *testing.T) {
	assert.Equal(t, []string{"-m", "'a b'", `'it'\''s'`}, quoteArgs([]string{"-m", "a b", "it's"}))
}

func TestDiskImageSourceMatchesGuestCheck(t *testing.T) {
	// images.mk builds disk.ext4 from images/disk/; the guest's disk
	// scenario compares against guestabi.
	got, err := os.ReadFile("../images/disk/" + guestabi.DiskCheckFile)
	require.NoError(t, err)
	assert.Equal(t, guestabi.DiskCheckText, string(got))
}

func TestQEMUArgsNextImages(t *testing.T) {
	cfg := Config{Kernel: "k", Initrd: "i", Scenario: "l2-tiny", Memory: "2G", CPUs: 1,
		Disks: []string{"/i/disk.ext4"}, NextImages: "/i/h-next.ext4"}
	got := strings.Join(qemuArgs(cfg, "", nil), " ")
	assert.True(t, strings.HasSuffix(got,
		" -drive file=/i/h-next.ext4,if=none,id=next,format=raw,readonly=on -device virtio-blk-pci,drive=next"),
		"the next-level disk comes last, read-only: %s", got)
	assert.Less(t, strings.Index(got, "disk.ext4"), strings.Index(got, "h-next.ext4"), "Disks keep vda")
}

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
