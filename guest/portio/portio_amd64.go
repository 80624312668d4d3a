//go:build linux

package portio

import "golang.org/x/sys/unix"

// ioperm grants the calling thread one port.
func ioperm(port uint16) error { return unix.Ioperm(int(port), 1, 1) }

// outb executes OUTB: AL to port DX. Implemented in portio_amd64.s.
//
//go:noescape
func outb(port uint16, b byte)

// outsb executes REP OUTSB: each byte of data to port DX.
//
//go:noescape
func outsb(port uint16, data []byte)
