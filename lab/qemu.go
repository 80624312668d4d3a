package lab

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
)

// Defaults for Config fields left zero.
const (
	DefaultQEMU   = "qemu-system-x86_64"
	DefaultMemory = "2G"
	DefaultCPUs   = 1
)

// tcg is the lab's QEMU as a launch.VMM: TCG with AMD SVM, H's disks and
// next-level images from Config, and H's channels wired to launch.
type tcg struct {
	cfg     Config
	fsSocks []string // virtiofsd's socket for each of cfg.Shares
}

// Name implements launch.VMM; QEMU's own output is kept as "qemu".
func (tcg) Name() string { return "qemu" }

// Check implements launch.VMM; Config.defaults has checked the files.
func (tcg) Check(*launch.Spec) error { return nil }

// Command implements launch.VMM: qemuArgs, plus isa-debugcon on the
// message port.
func (t tcg) Command(ctx context.Context, _ *launch.Spec, w *launch.Wiring) (*exec.Cmd, error) {
	markers, messages, err := w.DebugconSockets()
	if err != nil {
		return nil, err
	}
	args := append(qemuArgs(t.cfg, markers, t.fsSocks), launch.QEMUDebugcon("messages", guestabi.MessagePort, messages)...)
	cmd := exec.CommandContext(ctx, t.cfg.QEMU, args...)
	cmd.Stderr = w.Diag("[qemu] ", tcgWarning)
	return cmd, nil
}

// Decode implements launch.VMM: isa-debug-exit's (v<<1)|1.
func (tcg) Decode(status int) (guestabi.Verdict, bool) { return launch.DecodeQEMUStatus(status) }

// baseCmdline is what every lab kernel gets before the scenario: the
// console on the first serial port, reboot (which -no-reboot turns into an
// exit) on panic, and a quiet boot.
//
// highres=off nohz=off keep H's timer tick periodic. With the default
// one-shot tick, H froze for good (its QEMU idle, H's own timers never
// firing again) a few seconds into heavy interrupt traffic to G1 under
// H's KVM: the linux scenario's console test froze H in 3 runs of 3.
// QEMU 7.2's TCG apparently loses H's one-shot LAPIC timer interrupt
// around SVM world switches; a periodic tick survives a lost interrupt
// (no freeze in 8 runs since, 3 of them the linux scenario).
//
// no_timer_check skips the boot-time check that the timer interrupt
// arrives through the IO-APIC (timer_irq_works() in
// arch/x86/kernel/apic/io_apic.c wants more than four jiffies in ten
// ticks' worth of TSC time, and check_timer() panics otherwise). QEMU's
// TCG keeps the TSC on host time, but a loaded host can hold back the
// timer interrupts for longer than that: Debian 6.1.0-57 as H panicked
// "IO-APIC + timer doesn't work!" once in the kernel matrix, load 9 on 2
// cores. QEMU's PIT and IO-APIC work, so the check only adds that risk.
const baseCmdline = "console=ttyS0 panic=-1 quiet highres=off nohz=off no_timer_check"

// cmdline is the kernel command line for cfg.
func cmdline(cfg Config) string {
	parts := []string{baseCmdline,
		guestabi.ParamScenario + "=" + cfg.Scenario,
		guestabi.ParamLevel + "=" + Level}
	if cfg.Append != "" {
		parts = append(parts, cfg.Append)
	}
	return strings.Join(parts, " ")
}

// qemuArgs builds QEMU's arguments for cfg. markerSock is the Unix socket
// the marker port's bytes go to, or "" for none; fsSocks are the
// virtiofsd sockets of cfg.Shares, in order. cfg.Memory is launch's
// FormatMemory form ("2G"), which -m and a memory backend's size read
// alike.
func qemuArgs(cfg Config, markerSock string, fsSocks []string) []string {
	args := []string{
		"-accel", "tcg",
		"-cpu", "EPYC,+svm", // TCG emulates AMD SVM, not Intel VMX
		"-smp", strconv.Itoa(cfg.CPUs),
		"-m", cfg.Memory,
		"-nographic",   // serial console on stdio
		"-no-reboot",   // a guest reboot or panic ends QEMU (status 0: no verdict)
		"-nic", "none", // no network card, so no iPXE option ROM at boot
		"-kernel", cfg.Kernel,
		"-initrd", cfg.Initrd,
		"-append", cmdline(cfg),
	}
	args = append(args, launch.QEMUReportArgs(markerSock, "")...)
	for i, d := range cfg.Disks {
		id := fmt.Sprintf("disk%d", i)
		// snapshot=on: writes go to a temporary overlay, so the built image
		// stays the cached, pristine input of the next run.
		snapshot := ",snapshot=on"
		if cfg.WritableDisks {
			snapshot = ""
		}
		// The serial (/sys/block/vdX/serial in the guest) lets a scenario
		// find a disk by its file name, whatever order the guest probes in.
		args = append(args,
			"-drive", fmt.Sprintf("file=%s,if=none,id=%s,format=raw%s", escapeOpt(d), id, snapshot),
			"-device", fmt.Sprintf("virtio-blk-pci,drive=%s,serial=%s", id, escapeOpt(diskSerial(d))))
	}
	if len(cfg.Shares) > 0 {
		// vhost-user-fs: virtiofsd reads and writes H's memory itself, so
		// that memory must be shared with it (a memfd QEMU passes over the
		// socket).
		args = append(args,
			"-object", "memory-backend-memfd,id=mem,size="+cfg.Memory+",share=on",
			"-machine", "memory-backend=mem")
	}
	for i, sh := range cfg.Shares {
		id := fmt.Sprintf("fs%d", i)
		args = append(args,
			"-chardev", fmt.Sprintf("socket,id=%s,path=%s", id, escapeOpt(fsSocks[i])),
			"-device", fmt.Sprintf("vhost-user-fs-pci,chardev=%s,tag=%s", id, sh.Tag))
	}
	if cfg.NextImages != "" {
		// readonly=on: the guest sees a read-only disk (VIRTIO_BLK_F_RO),
		// and concurrent runs share the file.
		args = append(args,
			"-drive", fmt.Sprintf("file=%s,if=none,id=next,format=raw,readonly=on", escapeOpt(cfg.NextImages)),
			"-device", "virtio-blk-pci,drive=next")
	}
	return args
}

// diskSerial is a disk's virtio serial: its file name, cut to the 20
// bytes of VIRTIO_BLK_ID_BYTES.
func diskSerial(path string) string {
	s := filepath.Base(path)
	if len(s) > 20 {
		s = s[:20]
	}
	return s
}

// tcgWarning matches QEMU's start-up warnings about EPYC features TCG
// lacks; they are expected, so the log shows only their count.
func tcgWarning(line string) bool {
	return strings.Contains(line, "TCG doesn't support requested feature")
}

// escapeOpt doubles commas, QEMU's escape inside an option value.
func escapeOpt(s string) string { return strings.ReplaceAll(s, ",", ",,") }
