package machine

import (
	"errors"
	"fmt"
)

// Exit codes of a gonest run. A guest that reports through the exit device
// chooses its own code (0-255); the others are gonest's.
const (
	ExitOK        = 0   // the guest powered off or reset
	ExitFailure   = 1   // the guest crashed (triple fault, failed entry, ...) or the VMM failed
	ExitUsage     = 2   // bad flags or bad input files; nothing ran
	ExitTimeout   = 124 // -timeout expired (the code timeout(1) uses)
	ExitInterrupt = 130 // SIGINT (128 + 2)
	ExitTerm      = 143 // SIGTERM (128 + 15)
)

// Reason says why a run ended.
type Reason int

// Reasons.
const (
	ReasonPoweroff Reason = iota + 1 // ACPI S5 or KVM_SYSTEM_EVENT_SHUTDOWN
	ReasonReset                      // i8042 reset, ACPI reset register, KVM_SYSTEM_EVENT_RESET
	ReasonExitPort                   // the guest wrote the exit device
	ReasonFatal                      // a vCPU hit a fatal exit or an ioctl failed
	ReasonTimeout                    // -timeout expired
	ReasonSignal                     // SIGINT or SIGTERM
	ReasonQuit                       // Ctrl-A X on the console
)

var reasonNames = map[Reason]string{
	ReasonPoweroff: "poweroff",
	ReasonReset:    "reset",
	ReasonExitPort: "exit device",
	ReasonFatal:    "fatal error",
	ReasonTimeout:  "timeout",
	ReasonSignal:   "signal",
	ReasonQuit:     "console quit",
}

func (r Reason) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Outcome is how a run ended: the process exit code and why.
type Outcome struct {
	Reason Reason
	Code   int
	// Err is set for ReasonFatal (a *vcpu.FatalError carries a register
	// dump) and describes ReasonTimeout and ReasonSignal.
	Err error
}

func (o Outcome) String() string {
	if o.Err != nil {
		return fmt.Sprintf("%s (exit %d): %v", o.Reason, o.Code, o.Err)
	}
	return fmt.Sprintf("%s (exit %d)", o.Reason, o.Code)
}

// InputError marks an error caused by the user's input (flags, files,
// sizes) rather than by the VMM or the guest. gonest exits 2 for it.
type InputError struct {
	Err error
}

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// inputErrorf returns an *InputError with a formatted message.
func inputErrorf(format string, args ...any) error {
	return &InputError{Err: fmt.Errorf(format, args...)}
}

// IsInputError reports whether err is (or wraps) an *InputError.
func IsInputError(err error) bool {
	var ie *InputError
	return errors.As(err, &ie)
}
