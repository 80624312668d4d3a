package lab

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Defaults for BochsConfig fields left zero.
const (
	DefaultBochs = "bochs"
	// DefaultBochsModel has VMX with EPT, VPID, unrestricted guest, VMCS
	// shadowing and the preemption timer, and no CPUID leaf 0x15. Models
	// with leaf 0x15 (corei7_skylake_x and later) tell Linux a TSC
	// frequency of a few GHz while Bochs's TSC counts one per instruction
	// (bochs/cpu/proc_ctrl.cc, get_TSC), so H's clock would run a hundred
	// times slower than the wall clock and every sleep and console byte in
	// H would take that much longer. Without the leaf, Linux calibrates the
	// TSC against the PIT, whose rate follows IPS.
	DefaultBochsModel = "corei7_haswell_4770"
	// DefaultBochsMemoryMiB is H's RAM: Bochs 2.7 takes at most 2048
	// (megs, or memory: guest=).
	DefaultBochsMemoryMiB = 2048
	// DefaultBochsIPS is the instructions per emulated second. With
	// clock: sync=none it sets how emulated time relates to the
	// instructions run, not how fast Bochs runs: H's clock (and its TSC,
	// calibrated against the PIT) advances a second per IPS instructions.
	// Bochs runs 30 to 100 million a second here, so H's clock runs 2 to
	// 7 times slower than the wall clock, and gonest's tests still see a
	// TSC above 100 MHz, as on real hardware.
	DefaultBochsIPS = 200_000_000
)

// maxBochsMemoryMiB is the most RAM Bochs 2.7 gives a guest.
const maxBochsMemoryMiB = 2048

// vmxModel is what a Bochs CPU model offers of VMX, from its CPUID and
// VMX capability tables (bochs/cpu/cpudb/intel/*.cc in Bochs 2.7).
type vmxModel struct {
	vmx, ept, unrestricted bool
}

// bochsModels lists Bochs 2.7's CPU models (`bochs --help cpu`) and their
// VMX support. The lab needs VMX with EPT and unrestricted guest, which
// kvm_intel requires for real-mode guests without emulating them.
var bochsModels = map[string]vmxModel{
	"bx_generic":                {},
	"pentium":                   {},
	"pentium_mmx":               {},
	"amd_k6_2_chomper":          {},
	"p2_klamath":                {},
	"p3_katmai":                 {},
	"p4_willamette":             {},
	"core_duo_t2400_yonah":      {vmx: true},
	"atom_n270":                 {},
	"p4_prescott_celeron_336":   {},
	"athlon64_clawhammer":       {},
	"athlon64_venice":           {},
	"turion64_tyler":            {},
	"phenom_8650_toliman":       {},
	"core2_penryn_t9600":        {vmx: true},
	"corei5_lynnfield_750":      {vmx: true, ept: true},
	"corei5_arrandale_m520":     {vmx: true, ept: true, unrestricted: true},
	"corei7_sandy_bridge_2600k": {vmx: true, ept: true, unrestricted: true},
	"zambezi":                   {},
	"trinity_apu":               {},
	"ryzen":                     {},
	"corei7_ivy_bridge_3770k":   {vmx: true, ept: true, unrestricted: true},
	"corei7_haswell_4770":       {vmx: true, ept: true, unrestricted: true},
	"broadwell_ult":             {vmx: true, ept: true, unrestricted: true},
	"corei7_skylake_x":          {vmx: true, ept: true, unrestricted: true},
	"corei3_cnl":                {vmx: true, ept: true, unrestricted: true},
	"corei7_icelake_u":          {vmx: true, ept: true, unrestricted: true},
	"tigerlake":                 {vmx: true, ept: true, unrestricted: true},
}

// vmxModelNames lists the models the lab accepts, for messages.
func vmxModelNames() string {
	var names []string
	for n, m := range bochsModels {
		if m.vmx && m.ept && m.unrestricted {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// checkBochsModel says, before anything boots, why a model cannot host
// the Intel lab.
func checkBochsModel(model string) error {
	m, ok := bochsModels[model]
	switch {
	case !ok:
		return fmt.Errorf("bochs cpu model %q: unknown to Bochs 2.7 (bochs --help cpu lists them); pick one with VMX and EPT: %s", model, vmxModelNames())
	case !m.vmx:
		return fmt.Errorf("bochs cpu model %q has no VMX: kvm_intel cannot load in H; pick one with VMX and EPT: %s", model, vmxModelNames())
	case !m.ept || !m.unrestricted:
		return fmt.Errorf("bochs cpu model %q has VMX without EPT and unrestricted guest, which the lab's tiny real-mode guests need; pick one of: %s", model, vmxModelNames())
	}
	return nil
}

// debianRoot prefixes the paths of bochsFiles: "" on a real host, a fake
// tree in tests.
var debianRoot = ""

// genisoimage is the command that writes the boot CD.
var genisoimage = "genisoimage"

// Files a Bochs run needs from Debian packages, and the package of each.
var bochsFiles = []struct{ path, pkg string }{
	{"/usr/share/bochs/BIOS-bochs-latest", "bochsbios"},
	{"/usr/share/vgabios/vgabios.bin", "vgabios"},
	{"/usr/lib/ISOLINUX/isolinux.bin", "isolinux"},
	{"/usr/lib/syslinux/modules/bios/ldlinux.c32", "syslinux-common"},
}

// Commands a Bochs run needs, and the package of each.
var bochsCommands = []struct{ name, pkg string }{
	{DefaultBochs, "bochs"},
	{"", "genisoimage"}, // the genisoimage variable
}

// BochsPackages is what `apt-get install` needs for the Intel lab.
const BochsPackages = "bochs bochsbios vgabios isolinux syslinux-common genisoimage"

// CD layout: ISOLINUX and its files at the root of the ISO 9660 image.
const (
	isoBootImage  = "isolinux.bin" // El Torito no-emulation boot image, patched by -boot-info-table
	isoLoader     = "ldlinux.c32"  // ISOLINUX's core module
	isoConfig     = "isolinux.cfg" // what to boot, with which command line
	isoKernel     = "vmlinuz"
	isoInitrd     = "initrd"
	isoNextInitrd = "next.cpio"
)

// isolinuxCfg is the ISOLINUX configuration that boots the kernel at once
// with cmdline. A second initrd (the next level's images, a newc cpio)
// follows the first when next is true: the kernel unpacks both into its
// root file system.
func isolinuxCfg(cmdline string, next bool) string {
	initrd := "/" + isoInitrd
	if next {
		initrd += ",/" + isoNextInitrd
	}
	return "DEFAULT h\nPROMPT 0\nTIMEOUT 0\nLABEL h\n  KERNEL /" + isoKernel +
		"\n  APPEND initrd=" + initrd + " " + cmdline + "\n"
}

// genisoimageArgs builds the arguments that write iso from the files in
// dir (isolinux.bin, ldlinux.c32, isolinux.cfg) and the kernel and initrds
// where they are: -graft-points maps them into the image without a copy.
func genisoimageArgs(iso, dir string, cfg BochsConfig) []string {
	// -f follows symbolic links: with -R an image given as a link would
	// go on the CD as a link, which ISOLINUX cannot boot.
	args := []string{"-quiet", "-f", "-o", iso,
		"-b", isoBootImage, "-c", "boot.cat", "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table",
		"-J", "-R", "-graft-points",
		isoBootImage + "=" + filepath.Join(dir, isoBootImage),
		isoLoader + "=" + filepath.Join(dir, isoLoader),
		isoConfig + "=" + filepath.Join(dir, isoConfig),
		isoKernel + "=" + cfg.Kernel,
		isoInitrd + "=" + cfg.Initrd,
	}
	if cfg.NextImages != "" {
		args = append(args, isoNextInitrd+"="+cfg.NextImages)
	}
	return args
}

// bochsrc renders Bochs's configuration for cfg; iso is the boot CD, com1
// the file H's serial console goes to, log Bochs's own log.
func bochsrc(cfg BochsConfig, iso, com1, log string) string {
	lines := []string{
		fmt.Sprintf("cpu: model=%s, count=%d, ips=%d, reset_on_triple_fault=1", cfg.Model, cfg.CPUs, cfg.IPS),
		fmt.Sprintf("megs: %d", cfg.MemoryMiB),
		// fastboot: no "Press F12 for boot menu" wait (3 emulated seconds).
		"romimage: file=/usr/share/bochs/BIOS-bochs-latest, options=fastboot",
		"vgaromimage: file=/usr/share/vgabios/vgabios.bin",
		// Debian's bochs has no nogui display; rfb without a client runs headless.
		`display_library: rfb, options="timeout=0"`,
		"pci: enabled=1, chipset=i440fx",
		"ata0-master: type=cdrom, path=" + iso + ", status=inserted",
		"boot: cdrom",
		"com1: enabled=1, mode=file, dev=" + com1,
		// Bytes written to port 0xE9 go to Bochs's stdout (iodev/unmapped.cc).
		"port_e9_hack: enabled=1",
		// Emulated time follows the instructions run, not the wall clock, so a
		// loaded host slows H down without making its timers fire more often.
		"clock: sync=none, time0=utc",
		// No ALSA: the default sound driver aborts Bochs on a machine without
		// a sound card ("buffer overflow detected").
		"sound: waveoutdrv=dummy, waveindrv=dummy, midioutdrv=dummy",
		"speaker: enabled=0",
		"mouse: enabled=0",
		"log: " + log,
		"panic: action=fatal",
		"error: action=report",
		"info: action=report",
		"debug: action=ignore",
	}
	return strings.Join(lines, "\n") + "\n"
}
