package initkit

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/guestabi"
	"golang.org/x/sys/unix"
)

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		name string
		line string
		want map[string]string
	}{
		{"lab line", "console=ttyS0 panic=-1 quiet gonest.scenario=kvmtests gonest.level=H",
			map[string]string{"console": "ttyS0", "panic": "-1", "quiet": "", "gonest.scenario": "kvmtests", "gonest.level": "H"}},
		{"quoted value", `gonest.testrun="TestA|TestB x" a=b`,
			map[string]string{"gonest.testrun": "TestA|TestB x", "a": "b"}},
		{"later wins, extra spaces", "  a=1   a=2\n", map[string]string{"a": "2"}},
		{"value with =", "root=PARTUUID=abc", map[string]string{"root": "PARTUUID=abc"}},
		{"empty", "", map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ParseCmdline(tt.line))
		})
	}
}

func TestConsoleHandler(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(NewConsoleHandler(&out, "init: "))
	log.Info("module loaded", "name", "kvm_amd", "params", "nested=1", "took", "3ms")
	log.With("level", "H").WithGroup("g").Error("next level failed", "err", errors.New("exit status 1"))
	log.Debug("not shown")
	assert.Equal(t,
		"init: module loaded name=kvm_amd params=\"nested=1\" took=3ms\n"+
			"init: ERROR next level failed level=H g.err=\"exit status 1\"\n",
		out.String())
}

func TestCPUFlagsAndWantedModules(t *testing.T) {
	cpuinfo := func(flags string) string {
		return "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: " + flags + "\nbogomips\t: 1\n\nprocessor\t: 1\nflags\t\t: none\n"
	}
	tests := []struct {
		name  string
		flags string
		want  []string
	}{
		{"svm", "fpu sse4_2 svm npt", []string{"kvm_amd", "virtio_pci", "virtio_blk", "ext4"}},
		{"vmx", "fpu vmx ept", []string{"kvm_intel", "virtio_pci", "virtio_blk", "ext4"}},
		{"neither", "fpu hypervisor", []string{"virtio_pci", "virtio_blk", "ext4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flags := CPUFlags(strings.NewReader(cpuinfo(tt.flags)))
			assert.Equal(t, tt.want, WantedModules(flags))
		})
	}
	assert.Equal(t, "AuthenticAMD", CPUVendor(cpuinfo("svm")))
	assert.Equal(t, "", CPUVendor("processor\t: 0\n"))
	assert.Equal(t, "kvm_amd", KVMModule("HygonGenuine"))
	assert.Equal(t, "kvm_intel", KVMModule("GenuineIntel"))
}

// TestBuiltin reads a modules.builtin as Debian's cloud kernel ships it:
// ext4 is built in there, so the init treats it as present.
func TestBuiltin(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, builtinFile),
		[]byte("kernel/fs/ext4/ext4.ko\nkernel/drivers/virtio/virtio-pci.ko\n\nkernel/lib/crc32.ko\n"), 0o644))
	got := Builtin(dir)
	assert.Equal(t, map[string]bool{"ext4": true, "virtio_pci": true, "crc32": true}, got)
	why, ok := present(got, "virtio-pci")
	assert.True(t, ok)
	assert.Equal(t, "built into the kernel", why)
	_, ok = present(got, "no_such_module_here")
	assert.False(t, ok)
	assert.Empty(t, Builtin(t.TempDir()), "no modules.builtin: nothing built in")
}

// fakeExt4 returns the first 4 KiB of a device holding an ext4 file
// system labelled label (magic false: some other contents).
func fakeExt4(label string, magic bool) []byte {
	b := make([]byte, 4096)
	if magic {
		binary.LittleEndian.PutUint16(b[superblockOffset+sbMagicOffset:], sbMagic)
	}
	copy(b[superblockOffset+sbLabelOffset:superblockOffset+sbLabelOffset+sbLabelSize], label)
	return b
}

func TestExt4Label(t *testing.T) {
	tests := []struct {
		name      string
		data      []byte
		wantLabel string
		wantOK    bool
	}{
		{"labelled", fakeExt4("gonest-next", true), "gonest-next", true},
		{"full 16 bytes", fakeExt4("0123456789abcdef", true), "0123456789abcdef", true},
		{"no label", fakeExt4("", true), "", true},
		{"not ext", fakeExt4("gonest-next", false), "", false},
		{"too short", make([]byte, 1100), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			label, ok := Ext4Label(bytes.NewReader(tt.data))
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.wantLabel, label)
		})
	}
}

func TestFindLabelledDisk(t *testing.T) {
	sys, dev := t.TempDir(), t.TempDir()
	disks := map[string][]byte{
		"vda": fakeExt4("gonest", true), // another test disk
		"vdb": make([]byte, 512),        // too small, not ext4
		"vdc": fakeExt4(guestabi.NextLabel, true),
	}
	for name, data := range disks {
		require.NoError(t, os.Mkdir(filepath.Join(sys, name), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dev, name), data, 0o644))
	}
	require.NoError(t, os.Mkdir(filepath.Join(sys, "vdd"), 0o755)) // no device node: skipped
	require.NoError(t, os.Mkdir(filepath.Join(sys, "sda"), 0o755)) // not virtio-blk: ignored
	require.NoError(t, os.WriteFile(filepath.Join(dev, "sda"), fakeExt4(guestabi.NextLabel, true), 0o644))

	assert.Equal(t, filepath.Join(dev, "vdc"), FindLabelledDisk(sys, dev, guestabi.NextLabel))
	assert.Equal(t, filepath.Join(dev, "vda"), FindLabelledDisk(sys, dev, "gonest"))
	assert.Equal(t, "", FindLabelledDisk(sys, dev, "nosuch"))
}

func TestMountNextImagesWithoutDisk(t *testing.T) {
	if _, err := os.Stat(guestabi.NextKernel); err == nil {
		t.Skipf("%s exists here: this is a gonest level with its images mounted", guestabi.NextKernel)
	}
	var logs bytes.Buffer
	err := MountNextImages(context.Background(), slog.New(slog.NewTextHandler(&logs, nil)), 0)
	require.ErrorIs(t, err, ErrNoNextDisk, "this host has no disk labelled %s", guestabi.NextLabel)
	assert.Contains(t, err.Error(), `no virtio-blk disk labelled "gonest-next" within 0s: attach`)
	assert.Empty(t, logs.String())
}

func TestWaitForFile(t *testing.T) {
	dir := t.TempDir()
	err := WaitForFile(context.Background(), dir+"/never", 120*time.Millisecond)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "did not appear within 120ms")

	go func() {
		time.Sleep(60 * time.Millisecond)
		_ = os.WriteFile(dir+"/later", nil, 0o644)
	}()
	assert.NoError(t, WaitForFile(context.Background(), dir+"/later", 5*time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, WaitForFile(ctx, dir+"/never", time.Minute), context.Canceled)
}

func TestFindDiskBySerial(t *testing.T) {
	sys := t.TempDir()
	for name, serial := range map[string]string{
		"vda": "blk-rw.ext4\n",
		"vdb": "blk-ro.ext4", // no newline: still found
		"vdc": "",
		"sda": "not-a-virtio-disk\n",
	} {
		require.NoError(t, os.MkdirAll(filepath.Join(sys, name), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(sys, name, "serial"), []byte(serial), 0o644))
	}
	tests := []struct {
		serial string
		want   string
		ok     bool
	}{
		{"blk-rw.ext4", "/dev/vda", true},
		{"blk-ro.ext4", "/dev/vdb", true},
		{"not-a-virtio-disk", "", false}, // only vd* disks are looked at
		{"blk-rw", "", false},            // whole serials only
	}
	for _, tt := range tests {
		t.Run(tt.serial, func(t *testing.T) {
			got, ok := FindDiskBySerial(sys, tt.serial)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
	assert.Equal(t, `vda serial="blk-rw.ext4", vdb serial="blk-ro.ext4", vdc serial=""`, ListDisks(sys))
	assert.Equal(t, "none", ListDisks(t.TempDir()))
}

func TestDiskBySerialTimesOut(t *testing.T) {
	start := time.Now()
	_, err := DiskBySerial(context.Background(), "no-such-serial", 100*time.Millisecond)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `no virtio-blk disk with serial "no-such-serial" within 100ms`)
	assert.Less(t, time.Since(start), 5*time.Second)
}

// vpdPage is a unit serial number page as libata builds it.
func vpdPage(serial string) []byte {
	padded := []byte(fmt.Sprintf("%-20s", serial))
	return append([]byte{0, 0x80, 0, byte(len(padded))}, padded...)
}

func TestVPDSerial(t *testing.T) {
	tests := []struct {
		name string
		page []byte
		want string
		ok   bool
	}{
		{"libata's page", vpdPage("ide-rw.ext4"), "ide-rw.ext4", true},
		{"twenty characters", vpdPage("abcdefghijklmnopqrst"), "abcdefghijklmnopqrst", true},
		{"empty serial", vpdPage(""), "", true},
		{"another page", append([]byte{0, 0x83, 0, 1}, 'x'), "", false},
		{"short header", []byte{0, 0x80, 0}, "", false},
		{"length past the end", []byte{0, 0x80, 0, 30, 'a'}, "", false},
		{"nothing", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := VPDSerial(tt.page)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDrainConsole(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "console"))
	require.NoError(t, err)
	defer file.Close()
	closed, err := os.Create(filepath.Join(t.TempDir(), "closed"))
	require.NoError(t, err)
	require.NoError(t, closed.Close())
	pty := openPTY(t)
	_, err = pty.WriteString("verdict\n")
	require.NoError(t, err)

	tests := []struct {
		name    string
		f       *os.File
		wantErr string
	}{
		{"pty: a tty, drained", pty, ""},
		{"pipe: no tty, nothing queued", w, ""},
		{"regular file", file, ""},
		{"closed file", closed, "tcdrain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := DrainConsole(tt.f)
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestFindATADiskBySerial(t *testing.T) {
	sys := t.TempDir()
	for name, page := range map[string][]byte{
		"sda": vpdPage("l2disk-ide"),
		"sdb": vpdPage("ide-rw.ext4"),
		"sdc": {0, 0x80}, // broken page
		"vda": vpdPage("a-virtio-disk"),
	} {
		require.NoError(t, os.MkdirAll(filepath.Join(sys, name, "device"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(sys, name, "device", "vpd_pg80"), page, 0o644))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(sys, "sdd"), 0o755)) // no VPD page at all
	tests := []struct {
		serial, want string
		ok           bool
	}{
		{"l2disk-ide", "/dev/sda", true},
		{"ide-rw.ext4", "/dev/sdb", true},
		{"a-virtio-disk", "", false}, // only sd* disks are looked at
		{"ide-rw", "", false},        // whole serials only
	}
	for _, tt := range tests {
		t.Run(tt.serial, func(t *testing.T) {
			got, ok := FindATADiskBySerial(sys, tt.serial)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
	assert.Equal(t, `sda serial="l2disk-ide", sdb serial="ide-rw.ext4", sdc serial="?", sdd serial="?"`, ListATADisks(sys))
	assert.Equal(t, "none", ListATADisks(t.TempDir()))
}

func TestATADiskBySerialTimesOut(t *testing.T) {
	_, err := ATADiskBySerial(context.Background(), "no-such-serial", 100*time.Millisecond)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `no ATA disk with serial "no-such-serial" within 100ms`)
	assert.Contains(t, err.Error(), "ata_piix and sd_mod")
}

// openPTY returns the terminal side of a new pseudo-terminal, a tty whose
// output the test never reads.
func openPTY(t *testing.T) *os.File {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { ptmx.Close() })
	require.NoError(t, unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	require.NoError(t, err)
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { pts.Close() })
	return pts
}
