//go:build linux

#include "textflag.h"

// func outb(port uint16, b byte)
TEXT ·outb(SB), NOSPLIT, $0-3
	MOVW port+0(FP), DX
	MOVB b+2(FP), AL
	OUTB
	RET

// func outsb(port uint16, data []byte)
TEXT ·outsb(SB), NOSPLIT, $0-32
	MOVW port+0(FP), DX
	MOVQ data_base+8(FP), SI
	MOVQ data_len+16(FP), CX
	CLD
	REP; OUTSB
	RET
