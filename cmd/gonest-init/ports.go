package main

import (
	"fmt"
	"os"

	"github.com/gonest/gonest/guestabi"
)

// devPort is the kernel's window on x86 I/O ports (CONFIG_DEVPORT): a
// one-byte pwrite at offset N is an OUTB to port N.
const devPort = "/dev/port"

// portWriter writes markers and the verdict. Without /dev/port (f nil)
// every write returns an error.
type portWriter struct {
	f *os.File
}

func openPorts() (*portWriter, error) {
	f, err := os.OpenFile(devPort, os.O_WRONLY, 0)
	if err != nil {
		return &portWriter{}, fmt.Errorf("open %s: %w; markers and the verdict cannot reach the VMM", devPort, err)
	}
	return &portWriter{f: f}, nil
}

func (p *portWriter) out(port int64, b byte) error {
	if p.f == nil {
		return fmt.Errorf("%s is not open", devPort)
	}
	if _, err := p.f.WriteAt([]byte{b}, port); err != nil {
		return fmt.Errorf("outb 0x%x to port 0x%x: %w", b, port, err)
	}
	return nil
}

// Marker writes a boot timing marker to guestabi.MarkerPort.
func (p *portWriter) Marker(m guestabi.Marker) error { return p.out(guestabi.MarkerPort, byte(m)) }

// Exit writes the verdict to guestabi.ExitPort; under a VMM that honours
// the port, the VM is gone before this returns.
func (p *portWriter) Exit(v guestabi.Verdict) error { return p.out(guestabi.ExitPort, byte(v)) }
