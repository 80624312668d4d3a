// Package console is the host end of the guest's serial console: it feeds
// what the user types (or pipes in) to the UART, and puts the user's
// terminal into raw mode and back.
//
// On a terminal, Open switches stdin to raw mode so that every key reaches
// the guest unchanged, Ctrl-C included (it interrupts the guest's program,
// not gonest). The escape key is Ctrl-A, as in QEMU: Ctrl-A X quits,
// Ctrl-A Ctrl-A sends a Ctrl-A, Ctrl-A H lists the keys. Restore puts the
// terminal back; it is idempotent, so the board can defer it and also
// call it from its signal handler and its fatal-error path.
//
// In a pipe or a CI log there is no terminal: bytes flow through
// unchanged, there is no escape key, and the end of stdin only stops the
// feeding. The guest keeps running until it powers off or exits through
// the exit device.
//
// Input goes to the UART through its Feed method, which waits for the guest
// to drain the receive FIFO, so piping a large file into the guest loses
// nothing. Output does not pass through this package: the UART writes the
// guest's bytes straight to stdout. Host messages printed while a raw
// terminal is active should go through HostWriter, which restores the
// carriage returns raw mode stops adding.
package console
