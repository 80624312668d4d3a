package boot

import (
	"fmt"
	"strings"
)

// DefaultCmdline is what gonest puts before the user's -append. Each word
// has a reason:
//   - console=ttyS0: COM1 is the only console gonest has.
//   - earlyprintk=ttyS0: messages from before the console driver starts
//     (early ACPI or memory map problems) reach COM1 too, so a kernel that
//     dies early says why instead of printing nothing.
//   - reboot=k: reboot by pulsing reset through the i8042 (0xFE to port
//     0x64), one path that needs neither ACPI nor a triple fault, and that
//     gonest sees as a port write.
//   - panic=-1: reboot at once on a panic, so a broken guest ends the run
//     instead of hanging until CI's time limit.
//   - i8042.noaux: gonest's i8042 has no mouse port; skip probing it.
const DefaultCmdline = "console=ttyS0 earlyprintk=ttyS0 reboot=k panic=-1 i8042.noaux"

// Cmdline returns DefaultCmdline followed by the user's extra arguments, so
// that a user's later word (say console=hvc0) overrides the default.
func Cmdline(extra string) string {
	extra = strings.TrimSpace(extra)
	if extra == "" {
		return DefaultCmdline
	}
	return DefaultCmdline + " " + extra
}

// checkCmdline checks a command line against the longest the kernel
// accepts, maxLen bytes without the terminating NUL.
func checkCmdline(cmdline string, maxLen int) error {
	if strings.IndexByte(cmdline, 0) >= 0 {
		return fmt.Errorf("%w: it holds a NUL byte", ErrBadCmdline)
	}
	if len(cmdline) > maxLen {
		return fmt.Errorf("%w: %d bytes, this kernel accepts at most %d; shorten -append",
			ErrCmdlineTooLong, len(cmdline), maxLen)
	}
	return nil
}
