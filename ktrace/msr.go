package ktrace

import (
	"fmt"
	"strconv"
	"strings"
)

// msrNames names the MSRs a nested exit's path touches, by their
// architectural names (Intel SDM vol. 4, chapter 2; AMD APM vol. 2,
// appendix A). An index not here prints in hex alone.
var msrNames = map[uint32]string{
	0x10:       "TSC",
	0x1b:       "APIC_BASE",
	0x3a:       "FEATURE_CONTROL",
	0x48:       "SPEC_CTRL",
	0x49:       "PRED_CMD",
	0x8b:       "BIOS_SIGN_ID",
	0xe7:       "MPERF",
	0xe8:       "APERF",
	0x174:      "SYSENTER_CS",
	0x175:      "SYSENTER_ESP",
	0x176:      "SYSENTER_EIP",
	0x1d9:      "DEBUGCTL",
	0x277:      "PAT",
	0x6e0:      "TSC_DEADLINE",
	0x80b:      "X2APIC_EOI",
	0x830:      "X2APIC_ICR",
	0x838:      "X2APIC_TMICT",
	0xc0000080: "EFER",
	0xc0000081: "STAR",
	0xc0000082: "LSTAR",
	0xc0000083: "CSTAR",
	0xc0000084: "SFMASK",
	0xc0000100: "FS_BASE",
	0xc0000101: "GS_BASE",
	0xc0000102: "KERNEL_GS_BASE",
	0xc0000103: "TSC_AUX",
	0xc0010114: "VM_CR",
	0xc0010117: "VM_HSAVE_PA",
	0xc001011f: "VIRT_SPEC_CTRL",
}

// MSRAccessName names one kind of kvm_msr event: "wrmsr 0x48 SPEC_CTRL",
// "rdmsr 0xc0000080 EFER", "wrmsr 0x123".
func MSRAccessName(write bool, ecx uint32) string {
	op := "rdmsr"
	if write {
		op = "wrmsr"
	}
	s := fmt.Sprintf("%s %#x", op, ecx)
	if n, ok := msrNames[ecx]; ok {
		s += " " + n
	}
	return s
}

// msrLineName reads a kvm_msr line's text, "msr_write 48 = 0x0" or
// "msr_read c0000080 = 0xd01 (#GP)" (TP_printk of kvm_msr), into the
// name MSRAccessName gives; ok is false for anything else.
func msrLineName(body string) (string, bool) {
	f := strings.Fields(body)
	if len(f) < 2 {
		return "", false
	}
	var write bool
	switch f[0] {
	case "msr_write":
		write = true
	case "msr_read":
	default:
		return "", false
	}
	ecx, err := strconv.ParseUint(f[1], 16, 32)
	if err != nil {
		return "", false
	}
	return MSRAccessName(write, uint32(ecx)), true
}
