//go:build !(linux && amd64)

package portio

import "errors"

var errUnsupported = errors.New("port I/O from user space needs linux/amd64")

func ioperm(uint16) error { return errUnsupported }

func outb(uint16, byte) {}

func outsb(uint16, []byte) {}
