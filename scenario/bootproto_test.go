package scenario

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBootProtocol(t *testing.T) {
	bp := func(version uint16, loader byte) []byte {
		b := make([]byte, 4096)
		b[bpVersion], b[bpVersion+1] = byte(version), byte(version>>8)
		b[bpTypeOfLoader] = loader
		return b
	}
	assert.Equal(t, "PVH (ELF entry; boot_params built by the kernel: protocol 2.12, loader 0xb0)", bootProtocol(bp(0x020c, 0xb0)))
	assert.Equal(t, "bzImage (Linux boot protocol 2.15, loader 0xff)", bootProtocol(bp(0x020f, 0xff)))
	assert.Equal(t, "loader 0x71, protocol 2.15", bootProtocol(bp(0x020f, 0x71)))
	assert.Equal(t, "unknown (boot_params of 16 bytes)", bootProtocol(make([]byte, 16)))
}
