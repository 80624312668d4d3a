package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
	"github.com/gonest/gonest/vmexec/job"
)

// qemuExecVMM runs a gonest exec job under QEMU microvm, the way lmb/vimto
// and virtme-ng run a command: the host's root and each writable share
// over virtio-9p-pci, the job and the command's streams on virtio-serial
// ports named as gonest exec names them, isa-debug-exit and isa-debugcon
// for the exit status and the messages.
type qemuExecVMM struct {
	binary string      // QEMU; qemuBinary when empty
	job    []byte      // the job's line, sent on the control port
	root   string      // the host directory shared as the root
	shares []job.Share // writable, at their paths
	stdout string      // the file the command's stdout goes to
	stderr string      // the file its stderr goes to
}

// Name implements launch.VMM.
func (*qemuExecVMM) Name() string { return "qemu" }

// Check implements launch.VMM.
func (*qemuExecVMM) Check(*launch.Spec) error { return nil }

// Decode implements launch.VMM.
func (*qemuExecVMM) Decode(status int) (guestabi.Verdict, bool) {
	return launch.DecodeQEMUStatus(status)
}

// Command implements launch.VMM.
func (v *qemuExecVMM) Command(ctx context.Context, s *launch.Spec, w *launch.Wiring) (*exec.Cmd, error) {
	mem, err := launch.FormatMemory(s.Memory)
	if err != nil {
		return nil, err
	}
	markers, messages, err := w.DebugconSockets()
	if err != nil {
		return nil, err
	}
	ctl, err := v.serveJob(ctx, filepath.Join(w.Dir(), "ctl.sock"))
	if err != nil {
		return nil, err
	}
	args := []string{"-M", "microvm,pcie=on", "-enable-kvm", "-cpu", "host", "-m", mem, "-smp", strconv.Itoa(max(s.CPUs, 1)),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-serial", "stdio", "-monitor", "none",
		"-kernel", s.Kernel, "-initrd", s.Initrd,
		"-append", strings.TrimSpace(boot.DefaultCmdline + " " + s.GuestCmdline())}
	args = append(args, launch.QEMUReportArgs(markers, messages)...)
	// vimto's sharing: security_model=none (the files keep the host's
	// owners), multidevs=remap (a tree spanning file systems keeps
	// distinct inode numbers).
	args = append(args, ninePDevice("root", v.root, job.TagRoot, true)...)
	for i, sh := range v.shares {
		args = append(args, ninePDevice(fmt.Sprintf("rw%d", i), sh.Path, sh.Tag, false)...)
	}
	args = append(args, "-device", "virtio-serial-pci,max_ports=8",
		"-chardev", "socket,id=ctl,path="+ctl, "-device", "virtserialport,chardev=ctl,name="+job.PortControl,
		"-chardev", "null,id=in", "-device", "virtserialport,chardev=in,name="+job.PortStdin,
		"-chardev", "file,id=out,path="+v.stdout, "-device", "virtserialport,chardev=out,name="+job.PortStdout,
		"-chardev", "file,id=err,path="+v.stderr, "-device", "virtserialport,chardev=err,name="+job.PortStderr)
	bin := v.binary
	if bin == "" {
		bin = qemuBinary
	}
	return exec.CommandContext(ctx, bin, args...), nil
}

func ninePDevice(id, dir, tag string, ro bool) []string {
	fsdev := fmt.Sprintf("local,id=%s,path=%s,security_model=none,multidevs=remap", id, dir)
	if ro {
		fsdev += ",readonly=on"
	}
	return []string{"-fsdev", fsdev, "-device", fmt.Sprintf("virtio-9p-pci,fsdev=%s,mount_tag=%s", id, tag)}
}

// serveJob listens on path; QEMU connects its control port's chardev
// there, and gets the job's line. The connection stays open (the guest
// reads no end of file) until QEMU goes or ctx ends.
func (v *qemuExecVMM) serveJob(ctx context.Context, path string) (string, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return "", fmt.Errorf("control socket: %w", err)
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	go func() {
		conn, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		defer conn.Close()
		if _, err := conn.Write(v.job); err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, conn)
	}()
	return path, nil
}
