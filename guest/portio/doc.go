// Package portio writes x86 I/O ports from a Linux process as root,
// without /dev/port: ioperm(2) opens the ports in the task's I/O
// permission bitmap, and two instructions in Go assembly (outb, rep outsb)
// write them from user mode. Distro kernels built without CONFIG_DEVPORT
// (Debian's cloud flavour) have no /dev/port; every x86 kernel with
// CONFIG_X86_IOPL_IOPERM (Debian's all) has ioperm.
//
// The permission belongs to one thread, not the process: ksys_ioperm in
// the kernel's arch/x86/kernel/ioport.c changes current->thread's bitmap,
// and io_bitmap_share, called from copy_thread (arch/x86/kernel/process.c),
// gives it only to tasks cloned after that. A Go goroutine moves between
// OS threads, and an OUT on a thread without the permission raises #GP,
// which kills the process with SIGSEGV. So a Writer runs one goroutine
// locked to its OS thread (runtime.LockOSThread) that calls ioperm and
// then executes every OUT; callers hand it their writes over a channel.
//
// A guest init reports to its VMM this way (package guest/report), and
// gonest, when it runs inside a guest, forwards its own guest's markers
// and messages one level up (gonest run -forward).
package portio
