package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/guest/portio"
	"github.com/gonest/gonest/hostinfo"
	"github.com/gonest/gonest/internal/tinyelf"
	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/kvm/kvmtest"
	"github.com/gonest/gonest/vcpu"
)

// badInputFiles writes the files the bad invocations name into dir.
func badInputFiles(t *testing.T, dir string) {
	t.Helper()
	var exit0 tinyelf.Asm
	exit0.Exit(boot.ExitPort, 0).Hlt()
	tinyKernel(t, dir, "tiny.elf", exit0.Bytes())
	writeFile(t, dir, "empty", nil)
	garbage := make([]byte, 8192)
	for i := range garbage {
		garbage[i] = byte(i*7 + i>>8)
	}
	writeFile(t, dir, "garbage", garbage)
	bz := bzImage()
	writeFile(t, dir, "good.bz", bz)
	writeFile(t, dir, "truncated.bz", bz[:len(bz)-100])
	writeFile(t, dir, "old.bz", bzImage(func(b []byte) { binary.LittleEndian.PutUint16(b[hdrVersion:], 0x0204) }))
	writeFile(t, dir, "32bit.bz", bzImage(func(b []byte) { binary.LittleEndian.PutUint16(b[hdrXLoadFlags:], 0) }))
	arm := tinyelf.Build(exit0.Bytes())
	binary.LittleEndian.PutUint16(arm[elfMachineOff:], emAArch64)
	writeFile(t, dir, "arm64.elf", arm)
	elf32 := tinyelf.Build(exit0.Bytes())
	elf32[4] = 1 // EI_CLASS: ELFCLASS32
	writeFile(t, dir, "elf32.elf", elf32)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "adir"), 0o755))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	require.NoError(t, os.Symlink("loop", filepath.Join(dir, "loop")))
	writeFile(t, dir, "initrd.cpio", []byte("070701 not really a cpio, never read"))
	// Sparse: their size is what matters, and gonest refuses them before
	// reading a byte.
	sparse := func(name string, size int64) {
		f, err := os.Create(filepath.Join(dir, name))
		require.NoError(t, err)
		require.NoError(t, f.Truncate(size))
		require.NoError(t, f.Close())
	}
	sparse("huge.cpio", 3<<30+512<<20) // above the 3 GiB initrd limit
	sparse("20m.cpio", 20<<20)
	disk := make([]byte, 1<<20)
	copy(disk, "gonest test disk: must stay as it is")
	writeFile(t, dir, "disk.img", disk)
}

// hostLacksNesting reports whether this host's KVM offers neither SVM nor
// VMX, deciding with KVM's supported CPUID as gonest does.
func hostLacksNesting(t *testing.T) bool {
	t.Helper()
	sys := kvmtest.Open(t)
	entries, err := sys.GetSupportedCPUID()
	require.NoError(t, err)
	return !vcpu.HasSVM(entries) && !vcpu.HasVMX(entries)
}

// TestBadInvocations runs the gonest binary with wrong invocations. Each
// must exit 2 with exactly one line on stderr, print nothing on stdout, show
// no stack trace, change no file, and not hang.
func TestBadInvocations(t *testing.T) {
	dir := t.TempDir()
	badInputFiles(t, dir)
	long := strings.Repeat("quiet ", 1000) // 6000 bytes: above every limit
	tests := []struct {
		name string
		args []string
		want string // in the stderr line
		// kvm: gonest reaches /dev/kvm before it can tell (memory
		// placement, CPUID); without KVM the case skips with the reason.
		kvm bool
		// skip, when set, returns why this host cannot run the case.
		skip func(t *testing.T) string
	}{
		// Kernel files.
		{name: "missing kernel", args: []string{"run", "-kernel", "nope"}, want: "kernel nope: no such file"},
		{name: "empty kernel", args: []string{"run", "-kernel", "empty"}, want: "kernel empty: file is empty"},
		{name: "garbage kernel", args: []string{"run", "-kernel", "garbage"}, want: "kernel garbage: neither a bzImage"},
		{name: "truncated bzImage", args: []string{"run", "-kernel", "truncated.bz"}, want: "kernel truncated.bz: "},
		{name: "bzImage protocol 2.04", args: []string{"run", "-kernel", "old.bz"}, want: "2.04"},
		{name: "bzImage without 64-bit entry", args: []string{"run", "-kernel", "32bit.bz"}, want: "kernel 32bit.bz: "},
		{name: "ELF for aarch64", args: []string{"run", "-kernel", "arm64.elf"}, want: "kernel arm64.elf: "},
		{name: "32-bit ELF", args: []string{"run", "-kernel", "elf32.elf"}, want: "kernel elf32.elf: "},
		{name: "directory as kernel", args: []string{"run", "-kernel", "adir"}, want: "kernel adir: not a regular file"},
		{name: "FIFO as kernel", args: []string{"run", "-kernel", "fifo"}, want: "kernel fifo: not a regular file"},
		{name: "device as kernel", args: []string{"run", "-kernel", "/dev/zero"}, want: "not a regular file"},
		{name: "kernel name with a newline", args: []string{"run", "-kernel", "no\nsuch"}, want: `kernel no\nsuch: no such file`},
		{name: "flag name with a newline", args: []string{"run", "-kernel", "tiny.elf", "-bo\ngus"}, want: `-bo\ngus`},
		{name: "symlink loop as kernel", args: []string{"run", "-kernel", "loop"}, want: "kernel loop: "},
		// Initrd files and sizes.
		{name: "missing initrd", args: []string{"run", "-kernel", "tiny.elf", "-initrd", "nope.cpio"}, want: "initrd nope.cpio: no such file"},
		{name: "empty initrd", args: []string{"run", "-kernel", "tiny.elf", "-initrd", "empty"}, want: "initrd empty: file is empty"},
		{name: "directory as initrd", args: []string{"run", "-kernel", "tiny.elf", "-initrd", "adir"}, want: "initrd adir: not a regular file"},
		{name: "initrd larger than any memory allows", args: []string{"run", "-kernel", "tiny.elf", "-initrd", "huge.cpio"},
			want: "initrd huge.cpio: initrd too large", kvm: true},
		{name: "-m too small for kernel and initrd", args: []string{"run", "-kernel", "tiny.elf", "-initrd", "20m.cpio", "-m", "16M"},
			want: "use -m 22M or more", kvm: true},
		{name: "-m too small for the bzImage", args: []string{"run", "-kernel", "good.bz", "-m", "16M"},
			want: "-m 16M: guest memory too small", kvm: true},
		// Memory sizes.
		{name: "-m 100T", args: []string{"run", "-kernel", "tiny.elf", "-m", "100T"}, want: "-m 100T: at most 1T"},
		{name: "-m 900G", args: []string{"run", "-kernel", "tiny.elf", "-m", "900G"}, want: "more than this host's",
			skip: func(t *testing.T) string {
				if total, err := hostinfo.MemTotal(hostinfo.Root()); err != nil || total >= 900<<30 {
					return "this host has 900G of RAM or more, or does not say"
				}
				return ""
			}},
		{name: "-m 12Q", args: []string{"run", "-kernel", "tiny.elf", "-m", "12Q"}, want: `"12Q" is not a size`},
		{name: "-m -5", args: []string{"run", "-kernel", "tiny.elf", "-m", "-5"}, want: `"-5" is not a size`},
		{name: "-m 0", args: []string{"run", "-kernel", "tiny.elf", "-m", "0"}, want: "is zero"},
		{name: "-m empty", args: []string{"run", "-kernel", "tiny.elf", "-m", ""}, want: "empty size"},
		{name: "-m 1M", args: []string{"run", "-kernel", "tiny.elf", "-m", "1M"}, want: "too little memory"},
		{name: "-m not a multiple of 4K", args: []string{"run", "-kernel", "tiny.elf", "-m", "65537K"}, want: "multiple of 4K"},
		{name: "-m overflowing 64 bits", args: []string{"run", "-kernel", "tiny.elf", "-m", "99999999999999999999"}, want: "is not a size"},
		// vCPUs.
		{name: "-smp 0", args: []string{"run", "-kernel", "tiny.elf", "-smp", "0"}, want: "-smp 0: want 1 to 254"},
		{name: "-smp -1", args: []string{"run", "-kernel", "tiny.elf", "-smp", "-1"}, want: "-smp -1: want 1 to 254"},
		{name: "-smp 9999", args: []string{"run", "-kernel", "tiny.elf", "-smp", "9999"}, want: "-smp 9999: want 1 to 254"},
		{name: "-smp 255", args: []string{"run", "-kernel", "tiny.elf", "-smp", "255"}, want: "-smp 255"},
		{name: "-smp two", args: []string{"run", "-kernel", "tiny.elf", "-smp", "two"}, want: `invalid value "two" for flag -smp`},
		// Flags and arguments.
		{name: "unknown flag", args: []string{"run", "-kernel", "tiny.elf", "-bogus"}, want: "flag provided but not defined: -bogus"},
		{name: "-kernel without a value", args: []string{"run", "-kernel"}, want: "flag needs an argument: -kernel"},
		{name: "no -kernel", args: []string{"run"}, want: "-kernel is required"},
		{name: "empty -kernel", args: []string{"run", "-kernel", ""}, want: "-kernel is required"},
		{name: "stray argument", args: []string{"run", "-kernel", "tiny.elf", "initrd.cpio"}, want: `unexpected argument "initrd.cpio"`},
		{name: "no command", args: nil, want: "no command given"},
		{name: "unknown command", args: []string{"boot"}, want: `unknown command "boot"`},
		{name: "-nested bogus", args: []string{"run", "-kernel", "tiny.elf", "-nested", "bogus"}, want: `-nested "bogus"`},
		{name: "-nested on without SVM/VMX", args: []string{"run", "-kernel", "tiny.elf", "-nested", "on"},
			want: "backend)", kvm: true,
			skip: func(t *testing.T) string {
				if !hostLacksNesting(t) {
					return "this host's KVM offers SVM or VMX, so -nested on is valid here"
				}
				return ""
			}},
		{name: "-timeout -5s", args: []string{"run", "-kernel", "tiny.elf", "-timeout", "-5s"}, want: "-timeout -5s is negative"},
		{name: "-timeout garbage", args: []string{"run", "-kernel", "tiny.elf", "-timeout", "soon"}, want: `invalid value "soon" for flag -timeout`},
		{name: "-timeout without unit", args: []string{"run", "-kernel", "tiny.elf", "-timeout", "5"}, want: "for flag -timeout"},
		{name: "-append too long for an ELF kernel", args: []string{"run", "-kernel", "tiny.elf", "-append", long},
			want: "-append: kernel command line too long", kvm: true},
		{name: "-append too long for the bzImage", args: []string{"run", "-kernel", "good.bz", "-append", long[:3000]},
			want: "at most 2047", kvm: true},
		{name: "-stats-json in a missing directory", args: []string{"run", "-kernel", "tiny.elf", "-stats-json", "no/such/dir/s.json"},
			want: "directory no/such/dir does not exist"},
		{name: "-stats-json over the kernel", args: []string{"run", "-kernel", "tiny.elf", "-stats-json", "tiny.elf"},
			want: "is also the -kernel file"},
		{name: "-stats-json over the initrd", args: []string{"run", "-kernel", "tiny.elf", "-initrd", "initrd.cpio", "-stats-json", "./initrd.cpio"},
			want: "is also the -initrd file"},
		// Looking inside a run.
		{name: "-window without ..", args: []string{"run", "-kernel", "tiny.elf", "-window", "scenario start"}, want: "-window: window \"scenario start\": want OPEN..CLOSE"},
		{name: "-window unknown marker", args: []string{"run", "-kernel", "tiny.elf", "-window", "lunch..scenario end"}, want: `no marker is called "lunch"`},
		{name: "-nested-state-at garbage", args: []string{"run", "-kernel", "tiny.elf", "-nested-state-at", "later"}, want: "want a duration since the VMM started"},
		{name: "-nested-state-at negative", args: []string{"run", "-kernel", "tiny.elf", "-nested-state-at", "-1s"}, want: "want a duration since the VMM started"},
		{name: "-stats-interval too short", args: []string{"run", "-kernel", "tiny.elf", "-stats-interval", "1ms"}, want: "gonest run: -stats-interval 1ms is shorter than 10ms"},
		{name: "-stats-interval negative", args: []string{"run", "-kernel", "tiny.elf", "-stats-interval", "-1s"}, want: "gonest run: -stats-interval -1s is negative"},
		{name: "-stats-interval garbage", args: []string{"run", "-kernel", "tiny.elf", "-stats-interval", "often"}, want: "want a duration with a unit"},
		// Disks.
		{name: "-disk missing file", args: []string{"run", "-kernel", "tiny.elf", "-disk", "nope.img"}, want: "nope.img"},
		{name: "-disk bad option", args: []string{"run", "-kernel", "tiny.elf", "-disk", "disk.img,rw=5"}, want: "rw=5"},
		{name: "-disk empty", args: []string{"run", "-kernel", "tiny.elf", "-disk", ""}, want: "-disk"},
		{name: "-disk directory", args: []string{"run", "-kernel", "tiny.elf", "-disk", "adir"}, want: "adir"},
		{name: "-disk serial too long", args: []string{"run", "-kernel", "tiny.elf", "-disk", "disk.img,serial=" + strings.Repeat("x", 21)}, want: "serial"},
		{name: "-disk twice, writable", args: []string{"run", "-kernel", "tiny.elf", "-disk", "disk.img", "-disk", "./disk.img,ro"},
			want: "attached twice and writable"},
		{name: "-stats-json over a disk", args: []string{"run", "-kernel", "tiny.elf", "-disk", "disk.img", "-stats-json", "disk.img"},
			want: "is also the -disk file"},
		{name: "-disk unknown interface", args: []string{"run", "-kernel", "tiny.elf", "-disk", "disk.img,if=bogus"},
			want: `unknown interface "bogus"; use if=virtio or if=ide`},
		{name: "-disk if=ide, five of them", args: []string{"run", "-kernel", "tiny.elf",
			"-disk", "disk.img,ro,if=ide", "-disk", "disk.img,ro,if=ide", "-disk", "disk.img,ro,if=ide",
			"-disk", "disk.img,ro,if=ide", "-disk", "disk.img,ro,if=ide"},
			want: "the IDE controller takes 4"},
		// The running gonest binary cannot be opened for writing, even by
		// root (ETXTBSY).
		{name: "-disk if=ide on a file gonest cannot write", args: []string{"run", "-kernel", "tiny.elf", "-disk", gonestBinary(t) + ",if=ide"},
			want: "attach it read-only with ,ro", kvm: true},
		// Shares and ports.
		{name: "-fs missing directory", args: []string{"run", "-kernel", "tiny.elf", "-fs", "nodir,tag=x"}, want: "nodir: no such directory"},
		{name: "-fs on a file", args: []string{"run", "-kernel", "tiny.elf", "-fs", "empty,tag=x"}, want: "empty is not a directory"},
		{name: "-fs without a tag", args: []string{"run", "-kernel", "tiny.elf", "-fs", "adir"}, want: "no tag"},
		{name: "-fs bad option", args: []string{"run", "-kernel", "tiny.elf", "-fs", "adir,tag=x,rw"}, want: `unknown option "rw"`},
		{name: "-fs tag too long", args: []string{"run", "-kernel", "tiny.elf", "-fs", "adir,tag=" + strings.Repeat("t", 37)}, want: "longer than 36 bytes"},
		{name: "-fs tag with a space", args: []string{"run", "-kernel", "tiny.elf", "-fs", "adir,tag=my share"}, want: "use letters, digits"},
		{name: "-fs duplicate tags", args: []string{"run", "-kernel", "tiny.elf", "-fs", "adir,tag=x", "-fs", ".,tag=x"}, want: "tag=x is given twice"},
		{name: "-port bad name", args: []string{"run", "-kernel", "tiny.elf", "-port", "a/b"}, want: "use letters, digits"},
		{name: "-port duplicate names", args: []string{"run", "-kernel", "tiny.elf", "-port", "p", "-port", "p"}, want: `port "p" given twice`},
		{name: "-port missing input", args: []string{"run", "-kernel", "tiny.elf", "-port", "p,in=nope.bin"}, want: "in=nope.bin: no such file or directory"},
		{name: "-port input is a FIFO", args: []string{"run", "-kernel", "tiny.elf", "-port", "p,in=fifo"}, want: "is a FIFO; pass it as a descriptor"},
		{name: "-port output in a missing directory", args: []string{"run", "-kernel", "tiny.elf", "-port", "p,out=no/dir/o"}, want: "directory no/dir does not exist"},
		{name: "-port output over the kernel", args: []string{"run", "-kernel", "tiny.elf", "-port", "p,out=tiny.elf"}, want: "is also the -kernel file"},
		{name: "-port two outputs to one file", args: []string{"run", "-kernel", "tiny.elf", "-port", "a,out=o.txt", "-port", "b,out=./o.txt"}, want: "give each output its own file"},
		{name: "-port closed descriptor", args: []string{"run", "-kernel", "tiny.elf", "-port", "p,out=fd:1000"}, want: "descriptor 1000 is not open"},
		{name: "-port stdin", args: []string{"run", "-kernel", "tiny.elf", "-port", "p,in=fd:0"}, want: "serial console's input"},
		{name: "-port output created only once the VM runs", args: []string{"run", "-kernel", "garbage", "-port", "p,out=created.txt"}, want: "garbage"},
		{name: "-messages over the kernel", args: []string{"run", "-kernel", "tiny.elf", "-messages", "tiny.elf"},
			want: "-messages tiny.elf is also the -kernel file"},
		{name: "-messages in a missing directory", args: []string{"run", "-kernel", "tiny.elf", "-messages", "no/such/dir/m"},
			want: "gonest run: -messages: open no/such/dir/m: no such file or directory"},
		{name: "-forward where ioperm is refused", args: []string{"run", "-kernel", "tiny.elf", "-forward"},
			want: "gonest run: -forward: ioperm port 0xf8: ",
			skip: func(t *testing.T) string {
				if w, err := portio.Open(0xf8); err == nil {
					w.Close()
					return "this host grants ioperm, so -forward would write this machine's own ports 0xf8 and 0xe9"
				}
				return ""
			}},
		// gonest doctor.
		{name: "doctor unknown flag", args: []string{"doctor", "-bogus"}, want: "gonest doctor: flag provided but not defined: -bogus"},
		{name: "doctor stray argument", args: []string{"doctor", "now"}, want: `unexpected argument "now"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.kvm {
				sys, err := kvm.Open()
				if err != nil {
					kvmtest.Unavailable(t, "gonest needs /dev/kvm before it can find this mistake: "+err.Error())
				}
				require.NoError(t, sys.Close())
			}
			if tc.skip != nil {
				if why := tc.skip(t); why != "" {
					t.Skip(why)
				}
			}
			before := snapshot(t, dir)
			r := runBinary(t, dir, 30*time.Second, tc.args...)
			t.Logf("exit %d: %s", r.code, strings.TrimSpace(r.stderr))
			assert.Equal(t, 2, r.code, "exit code; stderr: %s", r.stderr)
			oneLineOn(t, r.stderr)
			assert.Contains(t, r.stderr, tc.want)
			assert.True(t, strings.HasPrefix(r.stderr, "gonest"), "the line says who is talking: %q", r.stderr)
			assert.Empty(t, r.stdout, "nothing on stdout")
			assertNoCrash(t, r.stdout+r.stderr)
			assert.Equal(t, before, snapshot(t, dir), "no file changed, appeared or vanished")
		})
	}
	t.Logf("%d bad invocations", len(tests))
}

// TestAppendWithNUL: a NUL byte cannot travel in argv, so this bad -append
// is tried in-process, through the same run function main calls.
func TestAppendWithNUL(t *testing.T) {
	needKVM(t)
	dir := t.TempDir()
	var a tinyelf.Asm
	a.Exit(boot.ExitPort, 0).Hlt()
	k := tinyKernel(t, dir, "k.elf", a.Bytes())
	stdin, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer stdin.Close()
	var stdout, stderr strings.Builder
	code := run([]string{"run", "-kernel", k, "-append", "quiet\x00init=/bin/sh"}, stdin, &stdout, &stderr)
	assert.Equal(t, 2, code)
	assert.Equal(t, "gonest: -append: bad kernel command line: it holds a NUL byte\n", stderr.String())
	assert.Empty(t, stdout.String())
}
