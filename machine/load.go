package machine

import (
	"errors"
	"fmt"

	"github.com/gonest/gonest/acpi"
	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/hostinfo"
)

// checkHostMemory refuses a guest bigger than the host's RAM.
func checkHostMemory(size uint64) error {
	total, err := hostinfo.MemTotal(hostinfo.Root())
	if err != nil {
		return nil // cannot tell; mmap will say if it really cannot
	}
	if size > total {
		return inputErrorf("-m %s: more than this host's %s of RAM", FormatSize(size), FormatSize(total&^(1<<20-1)))
	}
	return nil
}

// load builds the ACPI tables and places kernel, initrd and command line.
func (m *Machine) load(kernel, initrd *inputFile) error {
	tables, err := acpi.Build(m.acpiConfig())
	if err != nil {
		return fmt.Errorf("acpi tables: %w", err)
	}
	var l *boot.Loaded
	if initrd != nil {
		l, err = boot.Load(m.mem, kernel, kernel.size, initrd, initrd.size, m.cfg.Cmdline(), boot.Options{ACPI: tables.Data})
	} else {
		// A nil *inputFile in an io.ReaderAt would not be a nil interface.
		l, err = boot.Load(m.mem, kernel, kernel.size, nil, 0, m.cfg.Cmdline(), boot.Options{ACPI: tables.Data})
	}
	if err != nil {
		return classifyLoadError(m.cfg, err)
	}
	m.loaded = l
	return nil
}

// classifyLoadError names the file a load error is about and marks input
// problems as *InputError.
func classifyLoadError(cfg Config, err error) error {
	var fe *boot.FormatError
	switch {
	case errors.As(err, &fe):
		return &InputError{Err: &detailError{msg: fmt.Sprintf("kernel %s: %s", cfg.Kernel, fe.Detail), err: err}}
	case errors.Is(err, boot.ErrMemoryTooSmall):
		return &InputError{Err: fmt.Errorf("-m %s: %w", FormatSize(cfg.MemSize), err)}
	case errors.Is(err, boot.ErrInitrdTooLarge), errors.Is(err, boot.ErrInitrdOverlap):
		return &InputError{Err: fmt.Errorf("initrd %s: %w", cfg.Initrd, err)}
	case errors.Is(err, boot.ErrKernelOverlap):
		return &InputError{Err: fmt.Errorf("kernel %s: %w", cfg.Kernel, err)}
	case errors.Is(err, boot.ErrCmdlineTooLong), errors.Is(err, boot.ErrBadCmdline):
		return &InputError{Err: fmt.Errorf("-append: %w", err)}
	}
	return err
}

// detailError replaces an error's message and keeps it for errors.Is/As.
type detailError struct {
	msg string
	err error
}

func (e *detailError) Error() string { return e.msg }
func (e *detailError) Unwrap() error { return e.err }
