package doctor

import (
	"errors"

	"golang.org/x/sys/unix"
)

// KVMAccessFix says how to give a user /dev/kvm, for a device that
// exists but refuses to open read-write. GitHub-hosted Linux runners are
// the common case: their /dev/kvm is root:kvm 0660 and the runner's user
// is not in the kvm group, so their documentation and actions open it to
// all with a udev rule (or a chmod, which lasts until the device is
// created again).
const KVMAccessFix = "add the user to the kvm group (sudo usermod -aG kvm $USER, then log in again); " +
	`on a CI runner (GitHub's hosted runners) open it with a udev rule: echo 'KERNEL=="kvm", GROUP="kvm", MODE="0666", OPTIONS+="static_node=kvm"' ` +
	"| sudo tee /etc/udev/rules.d/99-kvm4all.rules && sudo udevadm control --reload-rules && sudo udevadm trigger --name-match=kvm " +
	"(or for this boot only: sudo chmod 666 /dev/kvm)"

// accessDenied reports whether opening /dev/kvm failed for lack of
// permission (EACCES, EPERM), which KVMAccessFix fixes.
func accessDenied(err error) bool {
	return errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)
}

// openProblem describes why /dev/kvm did not open, with the fix for a
// permission problem.
func openProblem(err error) string {
	if accessDenied(err) {
		return "/dev/kvm is not readable and writable by this user: " + KVMAccessFix
	}
	return err.Error()
}
