// Package job is the contract between gonest exec and its guest init:
// the Job the host sends (the command, its user, environment, working
// directory, and how the guest reaches the host's files), the control
// lines that follow it (signals for the command), the names of the
// virtio-console ports and virtio-fs tags both sides use, and the events
// the guest sends back on the message port (the command's exit status, or
// why it never ran).
//
// The job travels on the control port as one JSON line, not on the kernel
// command line, which Linux caps at 2 KiB on x86 (COMMAND_LINE_SIZE in
// arch/x86/include/asm/setup.h) where a command's environment alone is
// often larger. Read checks what the guest would act on: a job is a
// description the guest carries out as root, so every path is clean and
// absolute, every tag a plain word, every line bounded.
package job
