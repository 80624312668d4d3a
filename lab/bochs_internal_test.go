package lab

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/syncbuf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeDebian fills a fake root with the Debian files a Bochs run reads,
// and a genisoimage that records its arguments and writes its -o file.
func fakeDebian(t *testing.T) (argsFile string) {
	t.Helper()
	root := t.TempDir()
	for _, f := range bochsFiles {
		require.NoError(t, os.MkdirAll(filepath.Dir(root+f.path), 0o755))
		require.NoError(t, os.WriteFile(root+f.path, []byte(f.pkg), 0o644))
	}
	argsFile = filepath.Join(root, "genisoimage.args")
	iso := filepath.Join(root, "genisoimage")
	require.NoError(t, os.WriteFile(iso, []byte(`#!/bin/bash
printf '%s\n' "$@" > `+argsFile+`
while [[ $# -gt 0 ]]; do [[ $1 == -o ]] && : > "$2"; shift; done
`), 0o755))
	oldRoot, oldISO := debianRoot, genisoimage
	debianRoot, genisoimage = root, iso
	t.Cleanup(func() { debianRoot, genisoimage = oldRoot, oldISO })
	return argsFile
}

// fakeBochs writes a bash script that plays Bochs: it finds H's console
// and its log in the bochsrc it is given (-f), then runs body with $com1
// and $log set. Port 0xE9 is its stdout.
func fakeBochs(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bochs")
	script := `#!/bin/bash
rc=$3
com1=$(sed -n 's/^com1: .*dev=//p' "$rc")
log=$(sed -n 's/^log: //p' "$rc")
` + body + "\n"
	require.NoError(t, os.WriteFile(path, []byte(script), 0o755))
	return path
}

// e9 is the shell command that writes m as H's init writes it to port
// 0xE9, which Bochs prints on its stdout.
func e9(t *testing.T, m guestabi.Message) string {
	t.Helper()
	m.Level = Level
	line, err := guestabi.EncodeMessage(m)
	require.NoError(t, err)
	return "printf '%s' '" + string(line) + "'"
}

func bochsTestConfig(t *testing.T, bochs string, log io.Writer) BochsConfig {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"vmlinuz", "h.cpio.gz", "h-next.cpio"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644))
	}
	return BochsConfig{Bochs: bochs, Kernel: dir + "/vmlinuz", Initrd: dir + "/h.cpio.gz", NextImages: dir + "/h-next.cpio",
		Scenario: "kvmtests", Timeout: 20 * time.Second, Log: log, TailLines: 3}
}

func TestRunBochsVerdicts(t *testing.T) {
	pass, fail := guestabi.VerdictMessage(guestabi.Pass), guestabi.VerdictMessage(guestabi.Fail)
	tests := []struct {
		name    string
		body    string
		verdict guestabi.Verdict
		err     []string // substrings of the error; none means success
	}{
		{"pass, then status 1 after the power-off", `echo "init: gonest-init started level=H" >> $com1
echo "[G1] [G2] hello from G2" >> $com1
` + e9(t, guestabi.MarkerMessage(guestabi.MarkerInitStarted)) + `
echo "00000001345e[CPU0  ] RDMSR: Unknown register 0x1a0" >> $log
echo "00000001346e[CPU0  ] RDMSR: Unknown register 0x1a0" >> $log
` + e9(t, pass) + `
echo "Bochs is exiting with the following message:" >&2
exit 1`, guestabi.Pass, nil},
		{"fail", e9(t, pass.Forwarded()) + "; " + e9(t, fail), guestabi.Fail, nil},
		{"unknown scenario", e9(t, guestabi.VerdictMessage(guestabi.UnknownScenario)), guestabi.UnknownScenario, nil},
		{"console text is no verdict", `echo "init: verdict code=0 verdict=pass" >> $com1; exit 1`, 0,
			[]string{"bochs exited with status 1 before the guest reported a verdict (no boot marker arrived"}},
		{"poweroff without verdict", `echo "init: gonest-init started level=H" >> $com1
` + e9(t, guestabi.MarkerMessage(guestabi.MarkerInitStarted)) + `
echo "Kernel panic - not syncing: Attempted to kill init!" >> $com1`, 0,
			[]string{"bochs exited with status 0 before the guest reported a verdict (last marker \"init started\" at ",
				"--- last 2 lines of H ---\n  | init: gonest-init started level=H\n  | Kernel panic"}},
		{"bochs panic", `echo "00000000000p[RFB   ] RFB could not bind any port between 5900 and 5949" >> $log
exit 1`, 0, []string{"status 1 before the guest reported a verdict; Bochs panicked: [RFB] RFB could not bind any port",
			"--- last 1 lines of bochs.log ---"}},
		// Bochs ignores SIGTERM: the timeout must end it with SIGKILL.
		{"hung H", `trap '' TERM
echo "init: gonest-init started level=H" >> $com1
echo "00000000001i[CPU0  ] WARNING: HLT instruction with IF=0!" >> $log
echo "bochs stderr line" >&2
sleep 60`, 0, []string{"timeout: no verdict within 1.5s (no boot marker arrived: the kernel never reached gonest-init); Bochs killed",
			"--- last 1 lines of H ---\n  | init: gonest-init started level=H",
			"--- last 1 lines of bochs ---\n  | bochs stderr line",
			"--- last 1 lines of bochs.log ---\n  | 00000000001i[CPU0  ] WARNING: HLT instruction with IF=0!"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fakeDebian(t)
			var log syncbuf.Buffer
			cfg := bochsTestConfig(t, fakeBochs(t, tt.body), &log)
			if tt.name == "hung H" {
				cfg.Timeout = 1500 * time.Millisecond
			}
			res, err := RunBochs(context.Background(), cfg)
			if len(tt.err) > 0 {
				require.Error(t, err)
				for _, s := range tt.err {
					assert.Contains(t, err.Error(), s)
				}
				return
			}
			require.NoError(t, err, "log:\n%s", log.String())
			assert.Equal(t, tt.verdict, res.Verdict)
		})
	}
}

func TestRunBochsLogsEveryStream(t *testing.T) {
	fakeDebian(t)
	var log syncbuf.Buffer
	body := `echo "[G1] [G2] hello from G2" >> $com1
echo "                        Bochs x86 Emulator 2.7"
echo "Next at t=0"
echo "(0) [0x0000fffffff0] f000:fff0 (unk. ctxt): jmpf 0xf000:e05b          ; ea5be000f0"
` + e9(t, guestabi.MarkerMessage(guestabi.MarkerInitStarted)) + `
echo "Bochs x86 Emulator 2.7" >&2
echo "00000001345e[CPU0  ] RDMSR: Unknown register 0x1d9" >> $log
echo "00000001346e[CPU0  ] RDMSR: Unknown register 0x1d9" >> $log
echo "00000001347e[CPU0  ] RDMSR: Unknown register 0x1a0" >> $log
printf 'a guest writing 0xE9 by hand\n'
` + e9(t, guestabi.ResultMessage(guestabi.ResultDoctor, "can nest", map[string]float64{"can_nest": 1})) + `
` + e9(t, guestabi.VerdictMessage(guestabi.Pass)) + `
exit 1`
	res, err := RunBochs(context.Background(), bochsTestConfig(t, fakeBochs(t, body), &log))
	require.NoError(t, err)
	assert.Equal(t, guestabi.Pass, res.Verdict)
	out := log.String()
	assert.Contains(t, out, "[H] [G1] [G2] hello from G2\n")
	assert.NotContains(t, out, "Bochs x86 Emulator", "the banner is noise")
	assert.NotContains(t, out, "Next at t=0")
	assert.NotContains(t, out, "@gonest", "messages are read, not logged")
	assert.Contains(t, out, "[bochs] (0) [0x0000fffffff0] f000:fff0 (unk. ctxt): jmpf 0xf000:e05b", "where the CPU was: Bochs's, not H's")
	assert.Contains(t, out, "[bochs] a guest writing 0xE9 by hand\n")
	assert.Contains(t, out, `[lab] marker "init started" at `)
	assert.Contains(t, out, "[lab] bochs.log, most frequent: 2x e [CPU0] RDMSR: Unknown register 0x1d9; 1x e [CPU0] RDMSR: Unknown register 0x1a0\n")
	assert.Regexp(t, `\[lab\] Bochs exited with status 1 after [0-9.]+s, [0-9.]+s of CPU\n`, out)
	assert.Contains(t, out, "[lab] verdict 0 (pass)\n")
	_, ok := res.Mark(guestabi.MarkerInitStarted)
	assert.True(t, ok, "a marker message is a mark")
	require.Len(t, res.Messages, 3)
	assert.Equal(t, guestabi.ResultDoctor, res.Messages[1].Result.Name)
	assert.Equal(t, []string{"00000001345e[CPU0  ] RDMSR: Unknown register 0x1d9", "00000001346e[CPU0  ] RDMSR: Unknown register 0x1d9",
		"00000001347e[CPU0  ] RDMSR: Unknown register 0x1a0"}, res.Tails[bochsLogLevel])
}

func TestRunBochsBuildsTheCD(t *testing.T) {
	argsFile := fakeDebian(t)
	var log bytes.Buffer
	rcCopy := filepath.Join(t.TempDir(), "bochsrc")
	cfgCopy := filepath.Join(t.TempDir(), "isolinux.cfg")
	body := `cp "$rc" ` + rcCopy + `; cp "$(dirname "$rc")/isolinux.cfg" ` + cfgCopy + `
` + e9(t, guestabi.VerdictMessage(guestabi.Pass))
	cfg := bochsTestConfig(t, fakeBochs(t, body), &log)
	cfg.Append = "gonest.testrun=TestHLT"
	_, err := RunBochs(context.Background(), cfg)
	require.NoError(t, err)

	args, err := os.ReadFile(argsFile)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(args)), "\n")
	assert.Contains(t, lines, "vmlinuz="+cfg.Kernel, "the kernel goes in as it is, grafted")
	assert.Contains(t, lines, "initrd="+cfg.Initrd)
	assert.Contains(t, lines, "next.cpio="+cfg.NextImages)
	assert.Contains(t, lines, "-boot-info-table")
	assert.Contains(t, lines, "-f", "images given as symbolic links go on the CD as files")

	isolinux, err := os.ReadFile(cfgCopy)
	require.NoError(t, err)
	assert.Equal(t, "DEFAULT h\nPROMPT 0\nTIMEOUT 0\nLABEL h\n  KERNEL /vmlinuz\n"+
		"  APPEND initrd=/initrd,/next.cpio console=ttyS0 panic=-1 quiet highres=off nohz=off no_timer_check gonest.scenario=kvmtests gonest.level=H gonest.markers=messages gonest.testrun=TestHLT\n",
		string(isolinux))

	rc, err := os.ReadFile(rcCopy)
	require.NoError(t, err)
	for _, want := range []string{
		"cpu: model=corei7_haswell_4770, count=1, ips=200000000, reset_on_triple_fault=1\n",
		"megs: 2048\n",
		"romimage: file=/usr/share/bochs/BIOS-bochs-latest, options=fastboot\n",
		"boot: cdrom\n",
		"port_e9_hack: enabled=1\n",
		"com1: enabled=1, mode=file, dev=/proc/self/fd/3\n",
		"log: /proc/self/fd/4\n",
		"panic: action=fatal\n",
	} {
		assert.Contains(t, string(rc), want)
	}
}

func TestRunBochsBadInput(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*BochsConfig)
		err    string
	}{
		{"model without VMX", func(c *BochsConfig) { c.Model = "ryzen" },
			`bochs cpu model "ryzen" has no VMX: kvm_intel cannot load in H; pick one with VMX and EPT: broadwell_ult, `},
		{"model without EPT", func(c *BochsConfig) { c.Model = "core2_penryn_t9600" },
			`bochs cpu model "core2_penryn_t9600" has VMX without EPT and unrestricted guest`},
		{"unknown model", func(c *BochsConfig) { c.Model = "pentium4" },
			`bochs cpu model "pentium4": unknown to Bochs 2.7 (bochs --help cpu lists them)`},
		{"too much memory", func(c *BochsConfig) { c.MemoryMiB = 4096 }, "bochs memory 4096 MiB: Bochs 2.7 takes 256 to 2048"},
		{"two scenarios", func(c *BochsConfig) { c.Scenario = "kvmtests doctor" }, `scenario "kvmtests doctor": name one scenario`},
		{"missing kernel", func(c *BochsConfig) { c.Kernel = "/nonexistent/vmlinuz" }, "build the images with `make images`"},
		{"no bochs", func(c *BochsConfig) { c.Bochs = "/nonexistent/bochs" },
			"the Intel lab needs the Debian packages bochs; install them: apt-get install -y bochs bochsbios vgabios isolinux syslinux-common genisoimage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fakeDebian(t)
			cfg := bochsTestConfig(t, fakeBochs(t, "exit 0"), new(bytes.Buffer))
			tt.mutate(&cfg)
			_, err := RunBochs(context.Background(), cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.err)
			assert.NotContains(t, err.Error(), "\n", "one line")
		})
	}
}

func TestCheckBochsPackagesNamesMissingFiles(t *testing.T) {
	fakeDebian(t)
	require.NoError(t, os.Remove(debianRoot+"/usr/lib/ISOLINUX/isolinux.bin"))
	require.NoError(t, os.Remove(debianRoot+"/usr/share/vgabios/vgabios.bin"))
	err := CheckBochsPackages(fakeBochs(t, "exit 0"))
	require.Error(t, err)
	assert.Equal(t, "the Intel lab needs the Debian packages vgabios, isolinux; install them: apt-get install -y "+BochsPackages, err.Error())
}

func TestBochsLogSplit(t *testing.T) {
	l := newBochsLog(2)
	_, _ = l.Write([]byte("00000000000i[      ] LTDL_LIBRARY_PATH not set\n01345719255e[CPU0  ] RDMSR: Unknown register 0x1a0\n"))
	_, _ = l.Write([]byte("01345719256p[HD    ] ata0: bad\nnot a log line\npartial"))
	assert.Equal(t, []string{"not a log line", "partial"}, l.Tail())
	assert.Equal(t, "[HD] ata0: bad", l.Panic())
	assert.Equal(t, map[string]int{"e [CPU0] RDMSR: Unknown register 0x1a0": 1, "p [HD] ata0: bad": 1}, l.Counts())
}

// TestBootCDFollowsLinks builds a real CD with genisoimage from images
// given as symbolic links: ISOLINUX needs the files on the CD, and a link
// there boots nothing.
func TestBootCDFollowsLinks(t *testing.T) {
	for _, tool := range []string{"genisoimage", "isoinfo"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: no %s (Debian package genisoimage; make intel-tools installs it)", tool)
		}
	}
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	require.NoError(t, os.MkdirAll(real, 0o755))
	kernel := bytes.Repeat([]byte("k"), 5000)
	require.NoError(t, os.WriteFile(filepath.Join(real, "vmlinuz"), kernel, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(real, "h.cpio.gz"), []byte("initrd"), 0o644))
	require.NoError(t, os.Symlink(filepath.Join(real, "vmlinuz"), filepath.Join(dir, "vmlinuz")))
	for _, f := range []string{isoBootImage, isoLoader, isoConfig} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644))
	}
	iso := filepath.Join(dir, "boot.iso")
	cfg := BochsConfig{Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(real, "h.cpio.gz")}
	out, err := exec.Command("genisoimage", genisoimageArgs(iso, dir, cfg)...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	listing, err := exec.Command("isoinfo", "-R", "-l", "-i", iso).CombinedOutput()
	require.NoError(t, err, "%s", listing)
	assert.Regexp(t, `(?m)^-r.* 5000 .* vmlinuz $`, string(listing), "the kernel is a 5000-byte file on the CD, not a link")
}

// TestBochsStdout: message lines go to the message stream, everything
// else to Bochs's own output, and an endless line is cut rather than
// held.
func TestBochsStdout(t *testing.T) {
	var messages, diag bytes.Buffer
	w := newBochsStdout(&messages, &diag)
	msg, err := guestabi.EncodeMessage(guestabi.VerdictMessage(guestabi.Pass))
	require.NoError(t, err)
	_, _ = w.Write([]byte("(0) [0x0] jmpf\n" + string(msg[:10])))
	_, _ = w.Write(append(msg[10:], []byte(strings.Repeat("x", maxBochsLine+5))...))
	w.(*lineSplitter).Flush()
	assert.Equal(t, string(msg), messages.String())
	assert.Equal(t, "(0) [0x0] jmpf\n"+strings.Repeat("x", maxBochsLine)+"\nxxxxx\n", diag.String())
}
