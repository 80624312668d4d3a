// Package vconsole is the virtio console device (virtio 1.2 §5.3,
// device ID 3) with named ports (VIRTIO_CONSOLE_F_MULTIPORT): byte
// streams between host io.Readers and io.Writers and guest programs,
// kept apart from the kernel's log on the serial port. gonest exec
// carries a command's stdin, stdout and stderr on three of them; gonest
// run attaches files with -port NAME[,in=PATH|fd:N][,out=PATH|fd:N].
//
// In the guest, Linux's virtio_console driver makes /dev/vportNpM for
// port M and /sys/class/virtio-ports/vportNpM/name holding its name
// (udev, where it runs, links /dev/virtio-ports/NAME to it).
//
// # Queues and the control channel
//
// Port 0 has queues 0 and 1, the control channel 2 (device → driver) and
// 3 (driver → device), and port M queues 2+2M and 3+2M (§5.3.2). Port 0
// is reserved, as QEMU reserves it for an hvc console, and the named
// ports are 1 to N; max_nr_ports in the configuration space is N+1.
// The bring-up follows QEMU's virtio-serial-bus.c and Linux's
// drivers/char/virtio_console.c:
//
//	driver: DEVICE_READY 1
//	device: PORT_ADD for each port
//	driver: PORT_READY 1 (per port, once it made /dev/vportNpM)
//	device: PORT_NAME with the name and a NUL; PORT_OPEN 1 unless the
//	        host end is closed already
//	driver: PORT_OPEN 1 when a program opens the port, 0 when it closes it
//	device: PORT_OPEN 0 when the host's input has ended
//
// The driver waits for its control buffers, spinning, so the control
// handler never blocks; it records state and wakes the port's workers.
// Messages from a hostile driver (unknown events, ports that do not
// exist or were not added yet, short buffers) are ignored; the device
// queues at most a bounded number of its own messages for a driver that
// gives no buffers.
//
// # Flow, both ways
//
// Host → guest: a reader goroutine per port reads In a 64 KiB chunk at a
// time and hands it to the port's receive worker, which reads the next
// chunk only once that one is in guest buffers. The worker fills only
// buffers the guest posted, and only while a guest program has the port
// open (Linux discards data arriving for a closed port: in_intr). The
// undelivered rest of a chunk stays with the port across device resets,
// so no byte is dropped. At the end of In, once every byte is in a guest
// buffer, the device sends PORT_OPEN 0: Linux's read returns the data
// still queued, then 0 (port_fops_read). A closed host end also makes
// the guest's writes to that port wait (will_write_block), so gonest
// exec gives each direction its own port.
//
// Guest → host: the port's transmit worker writes each chain's buffers
// to Out in ring order before returning the chain, so a slow Out slows
// the guest's writes down (Linux's writes wait while the queue is full)
// and nothing is buffered in between. When the guest closes the port,
// OnGuestOpen(false) comes after the queue was drained of everything it
// had written. Close drains every transmitq once more, so the bytes a
// guest wrote just before it powered off reach Out.
//
// Not offered: VIRTIO_CONSOLE_F_SIZE (no port is an hvc console, so
// there is no terminal size to report) and F_EMERG_WRITE.
package vconsole
