package scenario

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// kvmVM is one VM of this level's KVM, from debugfs.
type kvmVM struct {
	name  string // PID-FD, as kvm_create_vm_debugfs names it
	exits uint64
}

// vmDirRE matches a VM's debugfs directory: "%d-%d", the creating
// process's PID and the VM's file descriptor (virt/kvm/kvm_main.c,
// kvm_create_vm_debugfs).
var vmDirRE = regexp.MustCompile(`^\d+-\d+$`)

// kvmVMs lists the VMs of this level's KVM, mounting debugfs if need be,
// with each one's exits (the per-VM sum of its vCPUs' counter).
func kvmVMs() ([]kvmVM, error) {
	const debugfs = "/sys/kernel/debug"
	if _, err := os.Stat(filepath.Join(debugfs, "kvm")); errors.Is(err, os.ErrNotExist) {
		if err := unix.Mount("debugfs", debugfs, "debugfs", 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("mount debugfs: %w", err)
		}
	}
	return listVMs(filepath.Join(debugfs, "kvm"))
}

// listVMs reads the VM directories under dir.
func listVMs(dir string) ([]kvmVM, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var vms []kvmVM
	for _, e := range entries {
		if !e.IsDir() || !vmDirRE.MatchString(e.Name()) {
			continue
		}
		vm := kvmVM{name: e.Name()}
		if b, err := os.ReadFile(filepath.Join(dir, e.Name(), "exits")); err == nil {
			vm.exits, _ = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		}
		vms = append(vms, vm)
	}
	return vms, nil
}
