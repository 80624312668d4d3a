package boot

import "errors"

// Sentinel errors. Every error about the kernel file is a *FormatError that
// wraps exactly one of them, so callers test with errors.Is and print the
// error as one line.
var (
	// ErrEmpty: the kernel file has no bytes.
	ErrEmpty = errors.New("empty kernel file")
	// ErrUnknownFormat: neither a bzImage nor an ELF file.
	ErrUnknownFormat = errors.New("unknown kernel format")
	// ErrTruncated: the file ends before what its header describes.
	ErrTruncated = errors.New("truncated kernel file")
	// ErrBootFlag: the bzImage boot sector lacks the 0xAA55 signature.
	ErrBootFlag = errors.New("bad boot_flag")
	// ErrNoHeader: a boot sector without the "HdrS" setup header.
	ErrNoHeader = errors.New("no HdrS setup header")
	// ErrProtocolTooOld: boot protocol older than 2.06.
	ErrProtocolTooOld = errors.New("boot protocol too old")
	// ErrNotLoadedHigh: a zImage, whose protected-mode code runs at 0x10000.
	ErrNotLoadedHigh = errors.New("kernel not loadable high")
	// ErrNot64Bit: the bzImage has no 64-bit entry point (XLF_KERNEL_64).
	ErrNot64Bit = errors.New("no 64-bit entry point")
	// ErrBadHeader: a header field holds an impossible value.
	ErrBadHeader = errors.New("bad setup header field")
	// ErrNotX86_64: an ELF file for another machine or class.
	ErrNotX86_64 = errors.New("ELF file not for x86-64")
	// ErrBadELF: an ELF file that debug/elf or gonest's checks reject.
	ErrBadELF = errors.New("malformed ELF file")
	// ErrBadSegment: an ELF PT_LOAD segment that cannot be loaded.
	ErrBadSegment = errors.New("bad ELF segment")
	// ErrBadEntry: an entry point outside every loaded segment.
	ErrBadEntry = errors.New("bad entry point")
)

// Errors about placing the kernel, the initrd and the command line.
var (
	// ErrMemoryTooSmall: guest RAM cannot hold the kernel (and initrd).
	ErrMemoryTooSmall = errors.New("guest memory too small")
	// ErrInitrdTooLarge: the initrd cannot fit below the highest address the
	// kernel accepts for it, whatever the memory size.
	ErrInitrdTooLarge = errors.New("initrd too large")
	// ErrInitrdOverlap: the initrd would overlap the kernel.
	ErrInitrdOverlap = errors.New("initrd would overlap the kernel")
	// ErrKernelOverlap: a kernel segment overlaps gonest's boot structures
	// below 1 MiB or lies outside RAM.
	ErrKernelOverlap = errors.New("kernel placement conflict")
	// ErrCmdlineTooLong: the command line exceeds what the kernel accepts.
	ErrCmdlineTooLong = errors.New("kernel command line too long")
	// ErrBadCmdline: the command line holds a NUL byte.
	ErrBadCmdline = errors.New("bad kernel command line")
	// ErrACPITooLarge: the ACPI tables exceed ACPIMaxSize.
	ErrACPITooLarge = errors.New("ACPI tables too large")
)

// FormatError describes one problem with a kernel file.
type FormatError struct {
	// Format is "bzImage", "ELF" or "" when the format is unknown.
	Format string
	// Err is one of the sentinel errors above.
	Err error
	// Detail says what is wrong and, where it helps, what to do.
	Detail string
}

// Error returns the one-line message, e.g. "kernel bzImage: protocol 2.04
// is too old (need 2.06 or later)".
func (e *FormatError) Error() string {
	if e.Format == "" {
		return "kernel: " + e.Detail
	}
	return "kernel " + e.Format + ": " + e.Detail
}

// Unwrap returns the sentinel error.
func (e *FormatError) Unwrap() error { return e.Err }
