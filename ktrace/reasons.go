package ktrace

import (
	"fmt"
	"strings"
)

// ISA is the instruction set an exit came from: the isa field of KVM's exit
// events (KVM_ISA_VMX and KVM_ISA_SVM in arch/x86/kvm/trace.h).
type ISA uint32

// The ISAs.
const (
	ISAUnknown ISA = 0
	ISAVMX     ISA = 1 // KVM_ISA_VMX: kvm_intel
	ISASVM     ISA = 2 // KVM_ISA_SVM: kvm_amd
)

// String names the ISA.
func (i ISA) String() string {
	switch i {
	case ISAVMX:
		return "VMX"
	case ISASVM:
		return "SVM"
	case ISAUnknown:
		return "unknown"
	}
	return fmt.Sprintf("isa(%d)", uint32(i))
}

// vmxFailedVMEntry is bit 31 of a VMX exit reason, the only flag
// kvm_print_exit_reason names (VMX_EXIT_REASON_FLAGS).
const vmxFailedVMEntry = 0x80000000

// ReasonName names exit code code of isa the way kvm_exit prints it
// (kvm_print_exit_reason in arch/x86/kvm/trace.h): SVM codes whole, VMX
// codes by their basic reason (bits 15:0) followed by " FAILED_VMENTRY"
// when bit 31 is set. A code no table knows is printed in hex, as
// __print_symbolic does. The tables are Linux 6.1's; a Session prefers
// those of the running kernel (Format.ReasonTables).
func ReasonName(isa ISA, code uint32) string {
	return builtinTables.name(isa, code)
}

// reasonTables name exit codes per ISA.
type reasonTables struct {
	vmx, svm map[uint32]string
}

var builtinTables = reasonTables{vmx: vmxExitReasons, svm: svmExitReasons}

// name names a code from t, then from the built-in tables.
func (t reasonTables) name(isa ISA, code uint32) string {
	lookup := func(own, builtin map[uint32]string, c uint32) (string, bool) {
		if n, ok := own[c]; ok {
			return n, true
		}
		n, ok := builtin[c]
		return n, ok
	}
	switch isa {
	case ISASVM:
		if n, ok := lookup(t.svm, svmExitReasons, code); ok {
			return n
		}
	case ISAVMX:
		name, ok := lookup(t.vmx, vmxExitReasons, code&0xffff)
		if !ok {
			name = fmt.Sprintf("%#x", code&0xffff)
		}
		if code&vmxFailedVMEntry != 0 {
			name += " FAILED_VMENTRY"
		}
		return name
	}
	return fmt.Sprintf("%#x", code)
}

// reasonISA guesses the ISA of a reason name printed in a trace line: SVM
// names are lower case, VMX names upper case, and each table tells its own.
func reasonISA(name string) ISA {
	base, _, _ := strings.Cut(name, " ")
	for _, n := range svmExitReasons {
		if n == base {
			return ISASVM
		}
	}
	for _, n := range vmxExitReasons {
		if n == base {
			return ISAVMX
		}
	}
	return ISAUnknown
}
