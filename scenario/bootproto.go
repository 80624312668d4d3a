package scenario

import (
	"encoding/binary"
	"fmt"
	"os"
)

// bootParamsPath is where Linux exports the boot_params ("zero page") it
// was started with, or for a PVH start the one it built from the
// hvm_start_info (arch/x86/kernel/ksysfs.c).
const bootParamsPath = "/sys/kernel/boot_params/data"

// Offsets in struct boot_params (Documentation/arch/x86/boot.rst).
const (
	bpVersion      = 0x206 // hdr.version
	bpTypeOfLoader = 0x210 // hdr.type_of_loader
)

// Loader IDs in type_of_loader.
const (
	loaderPVH       = 0xb0 // set by Linux itself when entered through its PVH note outside Xen
	loaderUndefined = 0xff // gonest's (boot.TypeOfLoader), as any loader without an ID
)

// bootProtocol names how this kernel was entered, from its boot_params:
// "PVH" for the ELF vmlinux's PVH entry, "bzImage" for the Linux boot
// protocol, with the protocol version and loader ID as evidence.
func bootProtocol(bp []byte) string {
	if len(bp) < bpTypeOfLoader+1 {
		return fmt.Sprintf("unknown (boot_params of %d bytes)", len(bp))
	}
	v := binary.LittleEndian.Uint16(bp[bpVersion:])
	loader := bp[bpTypeOfLoader]
	switch loader {
	case loaderPVH:
		return fmt.Sprintf("PVH (ELF entry; boot_params built by the kernel: protocol %d.%02d, loader %#x)", v>>8, v&0xff, loader)
	case loaderUndefined:
		return fmt.Sprintf("bzImage (Linux boot protocol %d.%02d, loader %#x)", v>>8, v&0xff, loader)
	}
	return fmt.Sprintf("loader %#x, protocol %d.%02d", loader, v>>8, v&0xff)
}

// readBootProtocol is bootProtocol of this kernel's exported boot_params.
func readBootProtocol() string {
	bp, err := os.ReadFile(bootParamsPath)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return bootProtocol(bp)
}
