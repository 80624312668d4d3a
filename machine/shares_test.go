package machine

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/devices/disk"
	"github.com/gonest/gonest/internal/syncbuf"
	"github.com/gonest/gonest/internal/tinyelf"
)

// A tiny guest reads the vendor and device IDs of PCI slots 1 to 4 and
// prints the device IDs: the board puts the virtio disk first, then the IDE
// controller, then the share, then the console; the virtio devices are
// modern virtio-pci functions (0x1040 + type).
func TestSharesAndConsoleOnThePCIBus(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	ideImg := filepath.Join(dir, "ide.img")
	for _, p := range []string{img, ideImg} {
		require.NoError(t, os.WriteFile(p, make([]byte, 64<<10), 0o644))
	}
	var a tinyelf.Asm
	for slot := uint32(1); slot <= 4; slot++ {
		a.MovDX(boot.PCIConfigPort).MovEAX(0x8000_0000 | slot<<11).OutL() // bus 0, device slot, register 0
		a.MovDX(boot.PCIConfigPort + 4).InL()                             // device ID << 16 | vendor ID
		a.ShrEAX8().ShrEAX8().MovDX(boot.COM1Port).OutB().ShrEAX8().OutB()
	}
	a.Exit(boot.ExitPort, 0).Hlt()

	log := new(syncbuf.Buffer)
	var out bytes.Buffer
	o, console, m := runTiny(t, a.Bytes(), func(c *Config) {
		c.Disks = []DiskSpec{{Path: ideImg, Interface: disk.IDE}, {Path: img}}
		c.Shares = []ShareSpec{{Dir: dir, Tag: "work"}}
		c.Ports = []PortConfig{{Name: "out", Out: &out}}
		c.Logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	require.Equal(t, 0, o.Code, "%v; console %q", o, console)
	assert.Equal(t, "\x42\x10\x10\x70\x5a\x10\x43\x10", console, "virtio-blk 0x1042, PIIX3 IDE 0x7010, virtio-fs 0x105a, virtio-console 0x1043")
	require.Len(t, m.Ports(), 1, "the ports outlive the run, for their statistics")
	assert.Equal(t, "out", m.Ports()[0].Name())
	for _, want := range []string{
		`msg=disk path=` + img + ` read_only=false sectors=128 pci_slot=1`,
		`msg=disk path=` + ideImg + ` read_only=false interface=ide place="primary master" pci_slot=2`,
		`msg=share dir=` + dir + ` tag=work read_only=false pci_slot=3 mount="mount -t virtiofs work /mnt"`,
		`msg="console port" name=out id=1 pci_slot=4`,
	} {
		assert.Contains(t, log.String(), want)
	}
}

// Bad shares are input errors found before /dev/kvm is opened.
func TestBadSharesAreInputErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Shares: []ShareSpec{{Dir: dir, Tag: "a"}, {Dir: dir, Tag: "a"}}}, "-fs tag=a is given twice"},
		{Config{Shares: []ShareSpec{{Dir: filepath.Join(dir, "missing"), Tag: "a"}}}, "no such directory"},
		{Config{Shares: []ShareSpec{{Dir: dir, Tag: "bad tag"}}}, "use letters, digits"},
		{Config{Ports: []PortConfig{{Name: "p"}, {Name: "p"}}}, `port "p" given twice`},
	}
	kernel, err := tinyelf.Write(dir, "tiny.elf", new(tinyelf.Asm).Hlt().Bytes())
	require.NoError(t, err)
	for _, tt := range tests {
		tt.cfg.Kernel, tt.cfg.MemSize, tt.cfg.CPUs = kernel, 64<<20, 1
		tt.cfg.KVMPath = filepath.Join(dir, "no-kvm-needed")
		_, err := New(tt.cfg)
		require.Error(t, err)
		assert.True(t, IsInputError(err), "%v is an input error", err)
		assert.Contains(t, err.Error(), tt.want)
	}
}
