package scenario

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
)

// Another hypervisor on top (l2-qemu): H boots G1 with gonest, and G1
// runs Debian's QEMU, with G1's KVM, as G2's VMM. QEMU comes from the
// next-level disk (guestabi.NextQEMUDir: the binary, its libraries and
// firmware laid out as on its own root), run through its own dynamic
// loader. G2 reports the way it does under gonest: its markers and
// messages on ports 0xF8 and 0xE9 reach G1 through QEMU's isa-debugcon,
// its verdict through isa-debug-exit (QEMU exits with (v<<1)|1). G1 passes
// the messages and markers up with its own ports, as gonest -forward
// would, and its verdict goes out through H's gonest.

const (
	// l2QEMUG2Memory is G2's memory under QEMU.
	l2QEMUG2Memory = 256 << 20
	// ResultFirmware is G2's result naming its firmware tables' OEM ID:
	// the VMM that built them.
	ResultFirmware = "firmware"
	// qemuOEMID is the OEM ID of QEMU's ACPI tables (ACPI_BUILD_APPNAME6
	// in include/hw/acpi/aml-build.h).
	qemuOEMID = "BOCHS"
	// facpTable is the FADT as Linux exposes it.
	facpTable = "/sys/firmware/acpi/tables/FACP"
	// noCMOSProbe keeps G2's kernel from probing an RTC (initcall_blacklist,
	// init/main.c): rtc-cmos (cmos_init, built into Debian's kernel) probes
	// the legacy RTC ports whether the machine has one or not, and its
	// probe waits in mc146818_avoid_UIP (drivers/rtc/rtc-mc146818-lib.c)
	// for an update not in progress, reading ports 0x70/0x71 with
	// interrupts off. Each read is an exit of G2 reflected into G1 and
	// handled in QEMU's user space: in the lab the probe held G2's CPU for
	// minutes, the soft-lockup watchdog firing, with or without the RTC.
	noCMOSProbe = "initcall_blacklist=cmos_init"
)

// runL2QEMU is H's side of l2-qemu: G1 under gonest runs l2-qemu-g1.
func runL2QEMU(ctx context.Context, env *Env) guestabi.Verdict {
	v, _ := bootNext(ctx, env, child{scenario: "l2-qemu-g1"})
	return v
}

// nextQEMU is the QEMU of the next-level disk, run through its loader:
// a microvm without its RTC.
func nextQEMU(dir string) launch.QEMU {
	return launch.QEMU{
		Machine: "microvm,rtc=off",
		Binary:  filepath.Join(dir, "usr/bin/qemu-system-x86_64"),
		Loader: []string{filepath.Join(dir, "lib64/ld-linux-x86-64.so.2"), "--library-path",
			filepath.Join(dir, "lib/x86_64-linux-gnu") + ":" + filepath.Join(dir, "usr/lib/x86_64-linux-gnu")},
		DataDir: filepath.Join(dir, "usr/share/qemu"),
	}
}

// runL2QEMUG1 is G1's side: boot G2 with QEMU and check that QEMU's
// firmware is what G2 found.
func runL2QEMUG1(ctx context.Context, env *Env) guestabi.Verdict {
	if v, ok := NeedNextLevel(ctx, env); !ok {
		return v
	}
	qemu := nextQEMU(guestabi.NextQEMUDir)
	if _, err := os.Stat(qemu.Binary); err != nil {
		env.Log.Error("no QEMU on the next-level disk; rebuild the images with `make images`", "err", err)
		return guestabi.SetupError
	}
	spec := env.NextSpec(ctx, "l2-qemu-g2", l2QEMUG2Memory)
	spec.VMM = qemu
	spec.Params = inheritedParams(env.Params)
	spec.Append = "quiet loglevel=5 " + noCMOSProbe
	var firmware string
	obs := &launch.Observer{
		Message: func(m launch.Message) {
			if err := env.Report.Forward(m.Message); err != nil {
				env.Log.Warn("message of G2 not passed up", "err", err)
			}
			if m.Depth == 0 && m.Type == guestabi.MsgResult && m.Result.Name == ResultFirmware {
				firmware = m.Result.Text
			}
		},
		Mark: func(m launch.Mark) { env.Report.ForwardMarker(m.Depth, m.Marker) },
	}
	v, res := env.RunNext(ctx, spec, guestabi.Pass, obs)
	if v != guestabi.Pass {
		return v
	}
	if firmware != qemuOEMID {
		env.Log.Error("G2's ACPI tables are not QEMU's: was G2 run by QEMU?", "oem_id", firmware, "want", qemuOEMID)
		return guestabi.Fail
	}
	env.Log.Info("l2-qemu: QEMU ran G2 on G1's KVM; its verdict came back through isa-debug-exit",
		"qemu_status", res.ExitCode, "verdict", res.Verdict)
	return guestabi.Pass
}

// runL2QEMUG2 is G2's side: say whose firmware tables this level booted
// with, from the FADT's OEM ID.
func runL2QEMUG2(_ context.Context, env *Env) guestabi.Verdict {
	b, err := os.ReadFile(facpTable)
	if err != nil {
		env.Log.Error("read the FADT", "err", err)
		return guestabi.SetupError
	}
	oem, err := oemID(b)
	if err != nil {
		env.Log.Error("read the FADT", "err", err)
		return guestabi.SetupError
	}
	env.Log.Info("l2-qemu: this level's ACPI tables", "oem_id", oem, "qemu", oem == qemuOEMID)
	env.Result(ResultFirmware, oem, nil)
	fmt.Fprintf(env.Console, "\n    Hello from %s, booted by the VMM whose ACPI tables say %q, at level %s.\n\n",
		env.Level, oem, previousLevel(env.Level))
	return guestabi.Pass
}

// oemID is the OEM ID of an ACPI table: bytes 10 to 15 of every table's
// header (ACPI 6.5, 5.2.6), padded with spaces or NULs.
func oemID(table []byte) (string, error) {
	const headerLen = 36
	if len(table) < headerLen {
		return "", fmt.Errorf("a table of %d bytes is shorter than an ACPI header (%d)", len(table), headerLen)
	}
	return strings.TrimRight(string(table[10:16]), " \x00"), nil
}
