package guestabi

import (
	"fmt"
	"strconv"
	"strings"
)

// I/O ports a guest uses to talk to its VMM.
const (
	// ExitPort takes one byte, a Verdict, and ends the run
	// (QEMU: -device isa-debug-exit,iobase=0xf4,iosize=0x04).
	ExitPort = 0xF4
	// MarkerPort takes one byte, a Marker, per boot milestone
	// (QEMU: -device isa-debugcon,iobase=0xf8).
	MarkerPort = 0xF8
)

// Verdict is the outcome of a scenario, written to ExitPort.
// Values stay below 0x80 so that QEMU's (v<<1)|1 fits an exit status.
type Verdict uint8

// The verdicts. Pass is 0 so that gonest's own exit status is 0 on success.
const (
	Pass            Verdict = 0 // the scenario ran and every check passed
	Fail            Verdict = 1 // the scenario ran and a check failed
	SetupError      Verdict = 2 // the scenario could not run: a module, binary or image is missing or broken
	UnknownScenario Verdict = 3 // gonest.scenario names no scenario in gonest-init's table
	NothingToRun    Verdict = 4 // the scenario found nothing to test (an image built without test binaries)
	NoKVM           Verdict = 5 // this level has no usable /dev/kvm: its CPU shows no SVM/VMX, or the KVM module did not load
)

// String names the verdict for logs and error messages.
func (v Verdict) String() string {
	switch v {
	case Pass:
		return "pass"
	case Fail:
		return "fail"
	case SetupError:
		return "setup error"
	case UnknownScenario:
		return "unknown scenario"
	case NothingToRun:
		return "nothing to run"
	case NoKVM:
		return "no kvm"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// Marker is a boot timing milestone, written to MarkerPort.
type Marker uint8

// The markers, in the order a run reaches them.
const (
	MarkerInitStarted   Marker = 1 // gonest-init is running as PID 1
	MarkerModulesLoaded Marker = 2 // kernel modules are loaded
	MarkerScenarioStart Marker = 3 // the scenario function starts
	MarkerScenarioEnd   Marker = 4 // the scenario function returned; the verdict follows
	// MarkerMeasureStart and MarkerMeasureEnd bracket one measured piece
	// of work inside a scenario (one disk read of l2-disk), so that a VMM's
	// -window 'measure start..measure end' counts that work and not the
	// set-up around it; a scenario may write several pairs.
	MarkerMeasureStart Marker = 5
	MarkerMeasureEnd   Marker = 6
)

// String names the marker for logs.
func (m Marker) String() string {
	switch m {
	case MarkerInitStarted:
		return "init started"
	case MarkerModulesLoaded:
		return "modules loaded"
	case MarkerScenarioStart:
		return "scenario start"
	case MarkerScenarioEnd:
		return "scenario end"
	case MarkerMeasureStart:
		return "measure start"
	case MarkerMeasureEnd:
		return "measure end"
	}
	return fmt.Sprintf("marker(%d)", uint8(m))
}

// Kernel command-line parameters read by gonest-init.
const (
	// ParamScenario names the scenario to run (gonest.scenario=kvmtests).
	ParamScenario = "gonest.scenario"
	// ParamLevel names this level in the nesting chain (gonest.level=G1);
	// it prefixes the level's console lines in a nested log.
	ParamLevel = "gonest.level"
	// ParamTestRun is passed as -test.run to test binaries (gonest.testrun=TestHLT).
	ParamTestRun = "gonest.testrun"
	// ParamTimeout bounds the scenario, as a Go duration (gonest.timeout=5m).
	ParamTimeout = "gonest.timeout"
	// ParamCode is the exit code a tiny test guest writes to ExitPort
	// (gonest.code=42, 0 to 127); the l2-tiny chain carries it up as the
	// verdict of every level.
	ParamCode = "gonest.code"
	// ParamKernel picks the file this level boots the next one from:
	// "vmlinux" for NextVmlinux (an ELF, entered through its PVH note),
	// anything else for NextKernel (the bzImage). Not inherited.
	ParamKernel = "gonest.kernel"
	// ParamNext lists the scenarios of the levels below this one, nearest
	// first: gonest.next=nested,kvmtests at H runs "nested" in G1 and
	// "kvmtests" in G2. Empty means the next level runs kvmtests.
	ParamNext = "gonest.next"
	// ParamStats (gonest.stats=1) makes the nested scenario run gonest with
	// -stats, so each level's console shows its guest's exits and KVM
	// counters.
	ParamStats = "gonest.stats"
	// ParamCPUs is how many processors g1-checks must find (gonest.cpus=2).
	ParamCPUs = "gonest.cpus"
	// ParamDemo selects the make run demo's G1: "shell" (interactive) or
	// "auto".
	ParamDemo = "gonest.demo"
	// ParamBenchRuns is a benchmark's runs per VMM (gonest.bench.runs=7).
	ParamBenchRuns = "gonest.bench.runs"
	// ParamDiskMiB is how many MiB l2-disk's G2 reads from each disk bus
	// per run (gonest.disk.mib=4).
	ParamDiskMiB = "gonest.disk.mib"
	// ParamDiskRuns is how many times it reads each bus, alternating
	// (gonest.disk.runs=5): the bench takes the median.
	ParamDiskRuns = "gonest.disk.runs"
	// ParamDiskWrite (gonest.disk.write=1) makes l2-disk's G2 also write
	// and sync files on the IDE disk the lab checks afterwards.
	ParamDiskWrite = "gonest.disk.write"
	// ParamMarkers=MarkersAsMessages (gonest.markers=messages) tells
	// gonest-init that its VMM has no marker device on MarkerPort (Bochs):
	// it sends its markers as marker messages on MessagePort instead. A
	// level sets it for itself; the next level does not inherit it.
	ParamMarkers = "gonest.markers"
)

// MarkersAsMessages is the value of ParamMarkers that sends markers as
// messages.
const MarkersAsMessages = "messages"

// Paths inside every level's initramfs.
const (
	// ModulesRoot holds lib/modules/<release>/ as depmod lays it out, with
	// modules.dep and modules.softdep restricted to the modules packed.
	ModulesRoot = "/lib/modules"
	// GonestBinary is the statically linked gonest VMM.
	GonestBinary = "/bin/gonest"
	// TestsDir holds `go test -c` binaries (*.test) run by the kvmtests scenario.
	TestsDir = "/lab/tests"
	// NextDir holds the next level's images. gonest-init mounts there,
	// read-only, the virtio-blk disk whose ext4 label is NextLabel (the
	// images pipeline builds one per level: h-next.ext4 for H,
	// g1-next.ext4 for G1), so the initramfs of a level does not carry
	// the levels below it.
	NextDir = "/images/next"
	// NextKernel is the kernel this level boots for the next level.
	NextKernel = NextDir + "/vmlinuz"
	// NextVmlinux, when present, is the same kernel uncompressed: an ELF
	// vmlinux with a PVH note (gonest.kernel=vmlinux boots it).
	NextVmlinux = NextDir + "/vmlinux"
	// NextInitrd is the initramfs this level boots for the next level.
	NextInitrd = NextDir + "/initrd"
	// NextDisk, when present, is the next level's own NextLabel disk
	// (holding the images of the level after it); pass it to the next
	// level with -disk NextDisk,ro.
	NextDisk = NextDir + "/next.ext4"
	// NextDiskInitrd, when present, is NextInitrd with the disk drivers
	// (virtio_blk, ata_piix, sd_mod, ext4) appended: what a next level
	// that reads disks boots (G2 in l2-disk and l2-many).
	NextDiskInitrd = NextDir + "/initrd-disk"
	// NextQEMUDir, when present, holds Debian's QEMU laid out as on its
	// own root (usr/bin/qemu-system-x86_64, its libraries, usr/share/qemu),
	// run through its own dynamic loader: G1's other VMM in l2-qemu.
	NextQEMUDir = NextDir + "/qemu"
	// ShellPath is the interactive shell (u-root's gosh, in its busybox).
	ShellPath = "/bbin/gosh"
	// DiskCheckFile is the file the images pipeline puts at the root of
	// disk.ext4, and the disk scenario reads back through virtio-blk.
	DiskCheckFile = "gonest-disk.txt"
	// DiskCheckText is DiskCheckFile's exact contents.
	DiskCheckText = "gonest virtio-blk test disk\n"
)

// NextLabel is the ext4 volume label of a disk of next-level images.
const NextLabel = "gonest-next"

// NextLevel names the level a guest at level starts: H runs G1, G1 runs
// G2, and a level named after its place among siblings keeps the name
// (G1a runs G2a). Any other name gets a "+1" suffix so a log stays
// readable.
func NextLevel(level string) string {
	if level == "H" {
		return "G1"
	}
	rest, ok := strings.CutPrefix(level, "G")
	digits := len(rest) - len(strings.TrimLeft(rest, "0123456789"))
	if n, err := strconv.Atoi(rest[:digits]); ok && digits > 0 && err == nil && n < 1000 {
		return fmt.Sprintf("G%d%s", n+1, rest[digits:])
	}
	return level + "+1"
}

// A marker byte carries, in bits 6-7, how many levels below the VMM that
// reads it the marker was written: 0 for its own guest. A VMM run with
// -forward passes each marker it receives on to its own marker port with
// the depth raised by one, so the outermost VMM (or the lab) sees the
// boot milestones of every level.
const (
	markerDepthShift = 6
	markerIDMask     = 1<<markerDepthShift - 1
	// MaxMarkerDepth is the deepest level a marker byte can name; deeper
	// markers are reported at this depth.
	MaxMarkerDepth = 3
)

// ForwardMarker returns the byte a VMM writes to its own marker port to
// pass on marker byte b from its guest.
func ForwardMarker(b uint8) uint8 {
	depth, id := SplitMarker(b)
	return uint8(min(depth+1, MaxMarkerDepth))<<markerDepthShift | uint8(id)
}

// MarkerByte is the byte that carries marker m written depth levels
// below the reader (depth above MaxMarkerDepth reads as MaxMarkerDepth).
func MarkerByte(depth int, m Marker) uint8 {
	return uint8(min(max(depth, 0), MaxMarkerDepth))<<markerDepthShift | uint8(m)&markerIDMask
}

// SplitMarker splits a marker byte into its depth and marker.
func SplitMarker(b uint8) (depth int, m Marker) {
	return int(b >> markerDepthShift), Marker(b & markerIDMask)
}

// DescribeMarker names a marker byte for a VMM's timeline: "init started"
// for its own guest, "+1 init started" for its guest's guest, and so on.
func DescribeMarker(b uint8) string {
	depth, m := SplitMarker(b)
	if depth == 0 {
		return m.String()
	}
	return fmt.Sprintf("+%d %s", depth, m)
}
