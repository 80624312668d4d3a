// Package tinyelf builds minimal x86-64 ELF "kernels" for tests: a few bytes
// of 64-bit machine code in one PT_LOAD segment at 1 MiB. gonest's ELF
// loader enters such an image in long mode at e_entry, with identity page
// tables, so the code can use ports and memory directly. Tests use them to
// drive the whole machine (gonest run included) on any /dev/kvm, even this
// project's slow kvm_pvm hosts, where a Linux guest does not run.
package tinyelf

import (
	"encoding/binary"
	"os"
	"path/filepath"
)

// LoadAddr is where the code is loaded and entered.
const LoadAddr = 0x100000

// Build returns an ELF64 executable whose only segment holds code at
// LoadAddr, with e_entry pointing at its first byte.
func Build(code []byte) []byte {
	const (
		ehsize  = 64
		phsize  = 56
		codeOff = 0x1000
	)
	b := make([]byte, codeOff+len(code))
	copy(b, []byte{0x7f, 'E', 'L', 'F', 2 /* 64-bit */, 1 /* LE */, 1 /* version */})
	le := binary.LittleEndian
	le.PutUint16(b[16:], 2)        // e_type: ET_EXEC
	le.PutUint16(b[18:], 62)       // e_machine: EM_X86_64
	le.PutUint32(b[20:], 1)        // e_version
	le.PutUint64(b[24:], LoadAddr) // e_entry
	le.PutUint64(b[32:], ehsize)   // e_phoff
	le.PutUint16(b[52:], ehsize)   // e_ehsize
	le.PutUint16(b[54:], phsize)   // e_phentsize
	le.PutUint16(b[56:], 1)        // e_phnum
	ph := b[ehsize:]
	le.PutUint32(ph[0:], 1)                  // p_type: PT_LOAD
	le.PutUint32(ph[4:], 5)                  // p_flags: R+X
	le.PutUint64(ph[8:], codeOff)            // p_offset
	le.PutUint64(ph[16:], LoadAddr)          // p_vaddr
	le.PutUint64(ph[24:], LoadAddr)          // p_paddr
	le.PutUint64(ph[32:], uint64(len(code))) // p_filesz
	le.PutUint64(ph[40:], uint64(len(code))) // p_memsz
	le.PutUint64(ph[48:], 0x1000)            // p_align
	copy(b[codeOff:], code)
	return b
}

// Write builds the image and writes it to dir/name, returning the path.
func Write(dir, name string, code []byte) (string, error) {
	p := filepath.Join(dir, name)
	return p, os.WriteFile(p, Build(code), 0o644)
}

// Asm is a tiny x86-64 assembler for the instructions test guests need.
type Asm struct{ b []byte }

// Bytes returns the code.
func (a *Asm) Bytes() []byte { return a.b }

// Raw appends bytes as they are.
func (a *Asm) Raw(b ...byte) *Asm { a.b = append(a.b, b...); return a }

// MovDX loads DX with a port number: mov dx, imm16.
func (a *Asm) MovDX(port uint16) *Asm { return a.Raw(0x66, 0xba, byte(port), byte(port>>8)) }

// MovAL loads AL: mov al, imm8.
func (a *Asm) MovAL(v byte) *Asm { return a.Raw(0xb0, v) }

// MovEAX loads EAX: mov eax, imm32.
func (a *Asm) MovEAX(v uint32) *Asm {
	return a.Raw(0xb8, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

// MovRCX loads RCX: mov rcx, imm32 (sign-extended).
func (a *Asm) MovRCX(v uint32) *Asm {
	return a.Raw(0x48, 0xc7, 0xc1, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

// MovRSI loads RSI: mov rsi, imm32 (sign-extended).
func (a *Asm) MovRSI(v uint32) *Asm {
	return a.Raw(0x48, 0xc7, 0xc6, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

// MovRBX loads RBX: mov rbx, imm64.
func (a *Asm) MovRBX(v uint64) *Asm {
	a.Raw(0x48, 0xbb)
	return a.Raw(binary.LittleEndian.AppendUint64(nil, v)...)
}

// OutB is out dx, al.
func (a *Asm) OutB() *Asm { return a.Raw(0xee) }

// OutW is out dx, ax.
func (a *Asm) OutW() *Asm { return a.Raw(0x66, 0xef) }

// OutL is out dx, eax.
func (a *Asm) OutL() *Asm { return a.Raw(0xef) }

// InL is in eax, dx.
func (a *Asm) InL() *Asm { return a.Raw(0xed) }

// ShrEAX8 is shr eax, 8.
func (a *Asm) ShrEAX8() *Asm { return a.Raw(0xc1, 0xe8, 0x08) }

// InB is in al, dx.
func (a *Asm) InB() *Asm { return a.Raw(0xec) }

// RepOutsB is rep outsb: RCX bytes from [RSI] to port DX.
func (a *Asm) RepOutsB() *Asm { return a.Raw(0xf3, 0x6e) }

// RepOutsL is rep outsd: RCX dwords from [RSI] to port DX.
func (a *Asm) RepOutsL() *Asm { return a.Raw(0xf3, 0x6f) }

// RepInsL is rep insd: RCX dwords from port DX to [RDI].
func (a *Asm) RepInsL() *Asm { return a.Raw(0xf3, 0x6d) }

// LeaDXRBX is lea edx, [rbx+disp]: DX becomes a port of an I/O window
// whose base is in RBX.
func (a *Asm) LeaDXRBX(disp uint32) *Asm { return a.Raw(0x8d, 0x93).Raw(le32(disp)...) }

// StoreRBX is mov dword [rbx], eax.
func (a *Asm) StoreRBX() *Asm { return a.Raw(0x89, 0x03) }

// LoadRBX is mov eax, dword [rbx].
func (a *Asm) LoadRBX() *Asm { return a.Raw(0x8b, 0x03) }

// The memory forms below address guest-physical memory directly: the
// identity page tables map [0, 4 GiB). An absolute operand is a 32-bit
// displacement with a SIB byte and no base (ModRM rm=100, SIB 0x25), since
// rm=101 alone means RIP-relative in long mode.

func le16(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// StoreB is mov byte [addr], v.
func (a *Asm) StoreB(addr uint32, v byte) *Asm {
	a.Raw(0xc6, 0x04, 0x25).Raw(le32(addr)...)
	return a.Raw(v)
}

// StoreW is mov word [addr], v.
func (a *Asm) StoreW(addr uint32, v uint16) *Asm {
	a.Raw(0x66, 0xc7, 0x04, 0x25).Raw(le32(addr)...)
	return a.Raw(le16(v)...)
}

// StoreL is mov dword [addr], v.
func (a *Asm) StoreL(addr, v uint32) *Asm {
	a.Raw(0xc7, 0x04, 0x25).Raw(le32(addr)...)
	return a.Raw(le32(v)...)
}

// StoreQ stores a 64-bit value as two dwords, low first.
func (a *Asm) StoreQ(addr uint32, v uint64) *Asm {
	return a.StoreL(addr, uint32(v)).StoreL(addr+4, uint32(v>>32))
}

// LoadAL is mov al, byte [addr].
func (a *Asm) LoadAL(addr uint32) *Asm { return a.Raw(0x8a, 0x04, 0x25).Raw(le32(addr)...) }

// WaitW spins (pause; cmp word [addr], v; jne) until the word at addr
// equals v, as a driver polls a ring index another agent advances.
func (a *Asm) WaitW(addr uint32, v uint16) *Asm {
	a.Raw(0xf3, 0x90)                                                // pause
	a.Raw(0x66, 0x81, 0x3c, 0x25).Raw(le32(addr)...).Raw(le16(v)...) // cmp word [addr], v
	return a.Raw(0x75, 0xf2)                                         // jne back to the pause (-14)
}

// StoreRBXB is mov byte [rbx+disp], v: a register of an MMIO window whose
// base is in RBX.
func (a *Asm) StoreRBXB(disp uint32, v byte) *Asm {
	return a.Raw(0xc6, 0x83).Raw(le32(disp)...).Raw(v)
}

// StoreRBXW is mov word [rbx+disp], v.
func (a *Asm) StoreRBXW(disp uint32, v uint16) *Asm {
	return a.Raw(0x66, 0xc7, 0x83).Raw(le32(disp)...).Raw(le16(v)...)
}

// StoreRBXL is mov dword [rbx+disp], v.
func (a *Asm) StoreRBXL(disp, v uint32) *Asm {
	return a.Raw(0xc7, 0x83).Raw(le32(disp)...).Raw(le32(v)...)
}

// LoadALRBX is mov al, byte [rbx+disp].
func (a *Asm) LoadALRBX(disp uint32) *Asm { return a.Raw(0x8a, 0x83).Raw(le32(disp)...) }

// AndEAX is and eax, v.
func (a *Asm) AndEAX(v uint32) *Asm { return a.Raw(0x25).Raw(le32(v)...) }

// MovEBXEAX is mov ebx, eax (which clears RBX's upper half).
func (a *Asm) MovEBXEAX() *Asm { return a.Raw(0x89, 0xc3) }

// MovRDI loads RDI: mov rdi, imm32 (sign-extended).
func (a *Asm) MovRDI(v uint32) *Asm { return a.Raw(0x48, 0xc7, 0xc7).Raw(le32(v)...) }

// RepStosB is rep stosb: RCX copies of AL to [RDI].
func (a *Asm) RepStosB() *Asm { return a.Raw(0xf3, 0xaa) }

// Print writes s to port (a UART's THR) one OUT per byte.
func (a *Asm) Print(port uint16, s string) *Asm {
	a.MovDX(port)
	for i := 0; i < len(s); i++ {
		a.MovAL(s[i]).OutB()
	}
	return a
}

// Exit writes code to port (gonest's exit device) with a byte OUT.
func (a *Asm) Exit(port uint16, code byte) *Asm { return a.MovDX(port).MovAL(code).OutB() }

// Hlt is hlt.
func (a *Asm) Hlt() *Asm { return a.Raw(0xf4) }

// Spin is jmp $ (a loop that never ends).
func (a *Asm) Spin() *Asm { return a.Raw(0xeb, 0xfe) }

// Ud2 raises #UD; with no IDT that is a triple fault.
func (a *Asm) Ud2() *Asm { return a.Raw(0x0f, 0x0b) }
