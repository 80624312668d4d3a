package machine

import (
	"bytes"
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/syncbuf"
	"github.com/gonest/gonest/internal/tinyelf"
	"github.com/gonest/gonest/kvm/kvmtest"
	"github.com/gonest/gonest/vcpu"
)

// runTiny boots code as a tiny ELF kernel on real KVM and returns the
// outcome and the console output.
func runTiny(t *testing.T, code []byte, mutate func(*Config)) (Outcome, string, *Machine) {
	t.Helper()
	kvmtest.Open(t).Close()
	path, err := tinyelf.Write(t.TempDir(), "tiny.elf", code)
	require.NoError(t, err)
	out := new(syncbuf.Buffer)
	cfg := Config{Kernel: path, MemSize: 64 << 20, CPUs: 1, ConsoleOut: out, Timeout: time.Minute}
	if mutate != nil {
		mutate(&cfg)
	}
	m, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	o := m.Run(context.Background())
	return o, out.String(), m
}

func TestTinyGuestExitCodeAndConsole(t *testing.T) {
	var a tinyelf.Asm
	a.Print(boot.COM1Port, "hello from G1\n").Exit(boot.ExitPort, 42).Hlt()
	o, console, m := runTiny(t, a.Bytes(), nil)
	assert.Equal(t, ReasonExitPort, o.Reason)
	assert.Equal(t, 42, o.Code)
	assert.Equal(t, "hello from G1\n", console)
	var events []Event
	for _, p := range m.Timeline().Points() {
		events = append(events, p.Event)
	}
	assert.Contains(t, events, EventFirstRun)
	assert.Contains(t, events, EventFirstSerial)
}

func TestTinyGuestPoweroffAndReset(t *testing.T) {
	tests := []struct {
		name   string
		port   uint16
		val    byte
		reason Reason
	}{
		{"acpi poweroff", boot.ACPISleepControlPort, 0x34, ReasonPoweroff},
		{"acpi reset", boot.ACPIResetPort, boot.ACPIResetValue, ReasonReset},
		{"i8042 reset", boot.I8042CommandPort, 0xfe, ReasonReset},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a tinyelf.Asm
			a.MovDX(tc.port).MovAL(tc.val).OutB().Exit(boot.ExitPort, 9).Hlt()
			o, _, _ := runTiny(t, a.Bytes(), nil)
			assert.Equal(t, tc.reason, o.Reason)
			assert.Equal(t, ExitOK, o.Code)
		})
	}
}

func TestTinyGuestTimeout(t *testing.T) {
	kvmtest.RequireStopWithIFClear(t) // the guest spins with IF=0 and never exits
	var a tinyelf.Asm
	a.Spin()
	start := time.Now()
	o, _, _ := runTiny(t, a.Bytes(), func(c *Config) { c.Timeout = 300 * time.Millisecond })
	assert.Equal(t, ReasonTimeout, o.Reason)
	assert.Equal(t, ExitTimeout, o.Code)
	assert.ErrorContains(t, o.Err, "-timeout 300ms")
	assert.Less(t, time.Since(start), 20*time.Second, "a spinning guest is stopped promptly")
}

func TestTinyGuestTripleFault(t *testing.T) {
	var a tinyelf.Asm
	a.Ud2()
	o, _, _ := runTiny(t, a.Bytes(), nil)
	assert.Equal(t, ReasonFatal, o.Reason)
	assert.Equal(t, ExitFailure, o.Code)
	var fe *vcpu.FatalError
	require.ErrorAs(t, o.Err, &fe)
	assert.Contains(t, o.Err.Error(), "SHUTDOWN")
	assert.Contains(t, o.Err.Error(), "rip=")
	if !fe.ResetState() { // AMD loses the faulting state; see FatalError.ResetState
		assert.Contains(t, fe.Dump(), "rip=0000000000100000", "register dump shows where it died")
	}
}

func TestTinyGuestMarkers(t *testing.T) {
	var a tinyelf.Asm
	a.MovDX(boot.MarkerPort).MovAL(1).OutB().MovAL(2).OutB().Exit(boot.ExitPort, 0).Hlt()
	var got []uint32
	var mu sync.Mutex
	o, _, m := runTiny(t, a.Bytes(), func(c *Config) {
		c.OnMarker = func(mk Marker) { mu.Lock(); got = append(got, mk.Value); mu.Unlock() }
	})
	assert.Equal(t, 0, o.Code)
	mu.Lock()
	assert.Equal(t, []uint32{1, 2}, got)
	mu.Unlock()
	var events []Event
	for _, p := range m.Timeline().Points() {
		events = append(events, p.Event)
	}
	assert.Contains(t, events, Event("guest: init started"))
	assert.Contains(t, events, Event("guest: modules loaded"))
}

// TestTinyGuestMessages writes a verdict message, a line of other text
// and a broken message to the message port: only the message arrives.
func TestTinyGuestMessages(t *testing.T) {
	line, err := guestabi.EncodeMessage(guestabi.VerdictMessage(guestabi.NoKVM))
	require.NoError(t, err)
	var a tinyelf.Asm
	a.Print(boot.MessagePort, "SeaBIOS says hello\n@gonest {\"v\":9}\n"+string(line)).Exit(boot.ExitPort, 5).Hlt()
	var got []guestabi.Message
	var mu sync.Mutex
	o, _, _ := runTiny(t, a.Bytes(), func(c *Config) {
		c.OnMessage = func(msg guestabi.Message) { mu.Lock(); got = append(got, msg); mu.Unlock() }
	})
	assert.Equal(t, 5, o.Code)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 1)
	assert.Equal(t, guestabi.VerdictMessage(guestabi.NoKVM).Verdict, got[0].Verdict)
}

func TestStopFromOutside(t *testing.T) {
	kvmtest.RequireStopWithIFClear(t) // the guest spins with IF=0 and never exits
	var a tinyelf.Asm
	a.Spin()
	kvmtest.Open(t).Close()
	path, err := tinyelf.Write(t.TempDir(), "spin.elf", a.Bytes())
	require.NoError(t, err)
	m, err := New(Config{Kernel: path, MemSize: 64 << 20, CPUs: 2})
	require.NoError(t, err)
	defer m.Close()
	time.AfterFunc(200*time.Millisecond, func() {
		m.Stop(Outcome{Reason: ReasonSignal, Code: ExitTerm})
	})
	o := m.Run(context.Background())
	assert.Equal(t, ReasonSignal, o.Reason)
	assert.Equal(t, ExitTerm, o.Code)
}

func TestNewRejectsBadInputWithoutKVM(t *testing.T) {
	dir := t.TempDir()
	empty := dir + "/empty"
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	garbage := dir + "/garbage"
	require.NoError(t, os.WriteFile(garbage, bytes.Repeat([]byte("not a kernel "), 100), 0o644))
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no kernel", Config{MemSize: 64 << 20, CPUs: 1}, "no kernel"},
		{"missing kernel", Config{Kernel: dir + "/nope", MemSize: 64 << 20, CPUs: 1}, "no such file"},
		{"empty kernel", Config{Kernel: empty, MemSize: 64 << 20, CPUs: 1}, "file is empty"},
		{"directory kernel", Config{Kernel: dir, MemSize: 64 << 20, CPUs: 1}, "not a regular file"},
		{"missing initrd", Config{Kernel: garbage, Initrd: dir + "/nope", MemSize: 64 << 20, CPUs: 1}, "initrd"},
		{"zero cpus", Config{Kernel: garbage, MemSize: 64 << 20, CPUs: 0}, "-smp 0"},
		{"too many cpus", Config{Kernel: garbage, MemSize: 64 << 20, CPUs: 999}, "-smp 999"},
		{"tiny memory", Config{Kernel: garbage, MemSize: 1 << 20, CPUs: 1}, "too little memory"},
		{"odd memory", Config{Kernel: garbage, MemSize: 64<<20 + 1, CPUs: 1}, "multiple of 4K"},
		{"huge memory", Config{Kernel: garbage, MemSize: 1 << 50, CPUs: 1}, "-m"},
		{"more than the host", Config{Kernel: garbage, MemSize: 1 << 39, CPUs: 1}, "more than this host's"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(tc.cfg)
			require.Error(t, err)
			assert.Nil(t, m)
			assert.True(t, IsInputError(err), "%v is an input error", err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

func TestGarbageKernelIsInputError(t *testing.T) {
	kvmtest.Open(t).Close()
	garbage := t.TempDir() + "/garbage"
	require.NoError(t, os.WriteFile(garbage, bytes.Repeat([]byte("not a kernel "), 100), 0o644))
	_, err := New(Config{Kernel: garbage, MemSize: 64 << 20, CPUs: 1})
	require.Error(t, err)
	assert.True(t, IsInputError(err))
	assert.Contains(t, err.Error(), "kernel "+garbage+":")
}

// TestTinyGuestSeesVirtioBlkOnPCI reads PCI config space of slot 1 through
// ports 0xcf8/0xcfc and prints the vendor and device ID on the console.
func TestTinyGuestSeesVirtioBlkOnPCI(t *testing.T) {
	img := t.TempDir() + "/disk.img"
	require.NoError(t, os.WriteFile(img, make([]byte, 1<<20), 0o644))
	var a tinyelf.Asm
	a.MovDX(boot.PCIConfigPort).MovEAX(0x8000_0800).OutL() // bus 0, device 1, function 0, register 0
	a.MovDX(boot.PCIConfigPort + 4).InL()
	a.MovDX(boot.COM1Port)
	for i := 0; i < 4; i++ {
		a.OutB().ShrEAX8()
	}
	a.Exit(boot.ExitPort, 0).Hlt()
	o, console, _ := runTiny(t, a.Bytes(), func(c *Config) {
		c.Disks = []DiskSpec{{Path: img}}
	})
	assert.Equal(t, 0, o.Code, "%v", o)
	assert.Equal(t, "\xf4\x1a\x42\x10", console, "virtio (1af4) block (1042) in slot 1")
}

// TestTinyGuestLinuxConf1Probe replays pci_check_type1() from Linux's
// arch/x86/pci/direct.c: a byte write to 0xcfb, then 0x80000000 written to
// and read back from 0xcf8, then the host bridge's class at devfn 0.
func TestTinyGuestLinuxConf1Probe(t *testing.T) {
	var a tinyelf.Asm
	a.MovDX(boot.PCIConfigPort + 3).MovAL(0x01).OutB()
	a.MovDX(boot.PCIConfigPort).MovEAX(0x8000_0000).OutL().InL() // CONFIG_ADDRESS reads back
	a.MovDX(boot.COM1Port)
	for i := 0; i < 4; i++ {
		a.OutB().ShrEAX8()
	}
	a.MovDX(boot.PCIConfigPort).MovEAX(0x8000_0008).OutL() // devfn 0, register 8: revision, class
	a.MovDX(boot.PCIConfigPort + 4).InL()
	a.MovDX(boot.COM1Port)
	for i := 0; i < 4; i++ {
		a.OutB().ShrEAX8()
	}
	a.Exit(boot.ExitPort, 0).Hlt()
	o, console, _ := runTiny(t, a.Bytes(), nil)
	require.Equal(t, 0, o.Code, "%v", o)
	require.Len(t, console, 8)
	assert.Equal(t, "\x00\x00\x00\x80", console[:4], "CONFIG_ADDRESS reads back what was written")
	assert.Equal(t, "\x00\x06", console[6:8], "class 0x0600: host bridge (PCI_CLASS_BRIDGE_HOST)")
}
