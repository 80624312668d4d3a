package machine

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/internal/tinyelf"
)

// Local APIC registers and ICR bits the SMP test guest uses (Intel SDM
// vol. 3, 11.6.1).
const (
	apicICRLow     = boot.LAPICAddr + 0x300 // interrupt command register, bits 0-31 (a write sends)
	apicICRHigh    = boot.LAPICAddr + 0x310 // bits 32-63: destination APIC ID in bits 56-63
	icrDestShift   = 24                     // destination field, in ICR high
	icrInit        = 0x5 << 8               // delivery mode INIT
	icrStartup     = 0x6 << 8               // delivery mode start-up (SIPI); the vector is the start page
	icrLevelAssert = 1 << 14                // level: assert
)

// apStartPage is where the test writes the AP's real-mode code: a SIPI
// with vector V starts the AP at CS:IP = V<<8:0, physical V<<12.
const apStartPage = 0x30000

// TestSecondVCPUStartsThroughINITSIPI boots two vCPUs: the BSP writes a
// real-mode trampoline to low memory and sends INIT and SIPI to APIC 1;
// the AP then writes the exit code. Until the AP is started its KVM_RUN
// blocks in KVM_MP_STATE_UNINITIALIZED and returns EAGAIN once INIT and
// SIPI arrive, which the run loop must take as "enter again" (Linux with
// -smp 2 hit this: "vcpu 1: KVM_RUN: resource temporarily unavailable").
func TestSecondVCPUStartsThroughINITSIPI(t *testing.T) {
	const apCode = 7
	var a tinyelf.Asm
	// AP, 16-bit: mov al, apCode; out ExitPort, al; hlt; jmp $.
	a.MovRBX(apStartPage).MovEAX(uint32(0xb0) | apCode<<8 | 0xe6<<16 | uint32(boot.ExitPort)<<24).StoreRBX()
	a.MovRBX(apStartPage + 4).MovEAX(0xf4 | 0xeb<<8 | 0xfe<<16 | 0x90<<24).StoreRBX()
	a.MovRBX(apicICRHigh).MovEAX(1 << icrDestShift).StoreRBX()
	a.MovRBX(apicICRLow).MovEAX(icrInit | icrLevelAssert).StoreRBX()
	a.MovEAX(icrStartup | icrLevelAssert | apStartPage>>12).StoreRBX()
	// The BSP halts for good (in the in-kernel LAPIC, where a stop's
	// signal reaches it even on a platform that never interrupts an IF=0
	// guest); only the AP can end the run.
	a.Hlt().Raw(0xeb, 0xfd) // 1: hlt; jmp 1b
	o, _, _ := runTiny(t, a.Bytes(), func(c *Config) { c.CPUs = 2 })
	assert.Equal(t, ReasonExitPort, o.Reason, "outcome %v", o)
	assert.Equal(t, apCode, o.Code, "the AP ran its start-up code")
}
