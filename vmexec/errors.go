package vmexec

import (
	"errors"
	"fmt"
)

// UsageError is bad input found before anything boots: a missing command,
// kernel or directory, modules the kernel lacks, an inaccessible
// /dev/kvm. Its message is one line that says what to do; gonest exec
// prints it and exits ExitUsage.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// IsUsageError reports whether err is (or wraps) a *UsageError.
func IsUsageError(err error) bool {
	var ue *UsageError
	return errors.As(err, &ue)
}

// Exit codes of gonest exec besides the command's own (0 to 255; 128+N
// for a command killed by signal N).
const (
	// ExitUsage: bad flags or input, one line on stderr, nothing booted.
	// (A command may exit 2 itself; the line on stderr tells them apart.)
	ExitUsage = 2
	// ExitTimeout: -timeout expired; the command was stopped with its VM.
	ExitTimeout = 124
	// ExitGuestFailed: the VM ended before the command did (a kernel
	// panic, a crash, a guest that powered off, a setup step in the guest
	// that failed) or gonest itself failed while running it. The reason
	// and the last lines of the guest's console follow on stderr.
	ExitGuestFailed = 125
	// ExitCannotRun: the command was found but could not be executed
	// (permission, format), as in a shell.
	ExitCannotRun = 126
	// ExitNotFound: the command was not found, as in a shell.
	ExitNotFound = 127
)
