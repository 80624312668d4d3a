package vcpu

import (
	"fmt"
	"strings"

	"github.com/gonest/gonest/kvm"
)

// FatalError is an exit the VMM cannot continue from: a triple fault, a
// failed VM entry, a KVM internal error, an unknown or malformed exit. It
// carries the exit and, when they could be read, the registers at the time.
//
// Error gives one line naming the exit and RIP; Dump gives the full register
// dump for a bug report.
type FatalError struct {
	VCPU  int        // vCPU id
	Exit  Exit       // a copy of the exit, owned by the error
	Err   error      // the underlying problem for a malformed exit, else nil
	Regs  *kvm.Regs  // nil if they could not be read
	Sregs *kvm.Sregs // nil if they could not be read
}

// Unwrap returns the underlying problem, if any.
func (e *FatalError) Unwrap() error { return e.Err }

// Error names the vCPU, the exit and where the guest was, e.g.
//
//	vcpu 0: KVM_EXIT_SHUTDOWN (triple fault) at rip=0x1003
func (e *FatalError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "vcpu %d: %s", e.VCPU, describeExit(e.Exit))
	if e.Regs != nil {
		fmt.Fprintf(&b, " at rip=%#x", e.Regs.RIP)
		if e.Sregs != nil && e.Sregs.CR0&CR0PE == 0 {
			fmt.Fprintf(&b, " (real mode cs=%#04x)", e.Sregs.CS.Selector)
		}
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.ResetState() {
		b.WriteString(" (registers show the reset state: on AMD, KVM reinitialises the VMCB after a shutdown intercept, so the faulting state is lost)")
	}
	return b.String()
}

// ResetState reports whether a SHUTDOWN's registers are the x86 reset state
// (CS base 0xffff0000, RIP 0xfff0) rather than where the guest died. KVM on
// AMD reinitialises the VMCB when it intercepts a shutdown (the VMCB is
// undefined after one), so there the dump cannot show the faulting RIP.
func (e *FatalError) ResetState() bool {
	if _, ok := e.Exit.(*ExitShutdown); !ok || e.Regs == nil || e.Sregs == nil {
		return false
	}
	return e.Regs.RIP == 0xfff0 && e.Sregs.CS.Base == 0xffff0000
}

var internalSuberrors = map[uint32]string{
	kvm.InternalErrorEmulation:            "emulation failure",
	kvm.InternalErrorSimulEx:              "simultaneous exceptions",
	kvm.InternalErrorDeliveryEv:           "exit while delivering an event",
	kvm.InternalErrorUnexpectedExitReason: "unexpected exit reason",
}

var systemEvents = map[uint32]string{
	kvm.SystemEventShutdown: "shutdown",
	kvm.SystemEventReset:    "reset",
	kvm.SystemEventCrash:    "crash",
	kvm.SystemEventWakeup:   "wakeup",
	kvm.SystemEventSuspend:  "suspend",
	kvm.SystemEventSEVTerm:  "SEV termination",
}

func describeExit(x Exit) string {
	if x == nil {
		return "no exit"
	}
	name := x.Reason().String()
	switch x := x.(type) {
	case *ExitShutdown:
		return name + " (triple fault)"
	case *ExitFailEntry:
		return fmt.Sprintf("%s (hardware entry failure reason %#x on host cpu %d)", name, x.HardwareReason, x.CPU)
	case *ExitInternalError:
		what, ok := internalSuberrors[x.Suberror]
		if !ok {
			what = fmt.Sprintf("suberror %d", x.Suberror)
		}
		return fmt.Sprintf("%s (%s, data %s)", name, what, hexWords(x.Data))
	case *ExitSystemEvent:
		what, ok := systemEvents[x.Type]
		if !ok {
			what = fmt.Sprintf("type %d", x.Type)
		}
		return fmt.Sprintf("%s (%s, data %s)", name, what, hexWords(x.Data))
	case *ExitUnknown:
		return fmt.Sprintf("%s (hardware exit reason %#x)", name, x.HardwareReason)
	case *ExitIO:
		return fmt.Sprintf("%s (%s port %#x, size %d, count %d)", name, x.Direction, x.Port, x.Size, x.Count)
	case *ExitMMIO:
		dir := "read"
		if x.Write {
			dir = "write"
		}
		return fmt.Sprintf("%s (%s %#x, %d bytes)", name, dir, x.Addr, len(x.Data))
	case *ExitDebug:
		return fmt.Sprintf("%s (exception %d at pc=%#x)", name, x.Exception, x.PC)
	}
	return name
}

func hexWords(w []uint64) string {
	parts := make([]string, len(w))
	for i, v := range w {
		parts[i] = fmt.Sprintf("%#x", v)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// Dump returns the error line followed by a register dump: general
// registers, RIP and RFLAGS, control registers, EFER, and every segment and
// descriptor table register.
func (e *FatalError) Dump() string {
	var b strings.Builder
	b.WriteString(e.Error())
	b.WriteByte('\n')
	if e.Regs == nil && e.Sregs == nil {
		b.WriteString("registers unavailable\n")
		return b.String()
	}
	if r := e.Regs; r != nil {
		fmt.Fprintf(&b, "rax=%016x rbx=%016x rcx=%016x rdx=%016x\n", r.RAX, r.RBX, r.RCX, r.RDX)
		fmt.Fprintf(&b, "rsi=%016x rdi=%016x rsp=%016x rbp=%016x\n", r.RSI, r.RDI, r.RSP, r.RBP)
		fmt.Fprintf(&b, "r8 =%016x r9 =%016x r10=%016x r11=%016x\n", r.R8, r.R9, r.R10, r.R11)
		fmt.Fprintf(&b, "r12=%016x r13=%016x r14=%016x r15=%016x\n", r.R12, r.R13, r.R14, r.R15)
		fmt.Fprintf(&b, "rip=%016x rflags=%08x %s\n", r.RIP, r.RFLAGS, rflagsString(r.RFLAGS))
	}
	if s := e.Sregs; s != nil {
		fmt.Fprintf(&b, "cr0=%08x cr2=%016x cr3=%016x cr4=%08x cr8=%x\n", s.CR0, s.CR2, s.CR3, s.CR4, s.CR8)
		fmt.Fprintf(&b, "efer=%x apic_base=%x mode=%s\n", s.EFER, s.APICBase, ModeOf(s))
		for _, seg := range []struct {
			name string
			s    kvm.Segment
		}{{"cs", s.CS}, {"ss", s.SS}, {"ds", s.DS}, {"es", s.ES}, {"fs", s.FS}, {"gs", s.GS}, {"tr", s.TR}, {"ldt", s.LDT}} {
			fmt.Fprintf(&b, "%-3s=%04x base=%016x limit=%08x type=%x s=%d dpl=%d p=%d db=%d l=%d g=%d unusable=%d\n",
				seg.name, seg.s.Selector, seg.s.Base, seg.s.Limit, seg.s.Type, seg.s.S, seg.s.DPL,
				seg.s.Present, seg.s.DB, seg.s.L, seg.s.G, seg.s.Unusable)
		}
		fmt.Fprintf(&b, "gdt=%016x/%04x idt=%016x/%04x\n", s.GDT.Base, s.GDT.Limit, s.IDT.Base, s.IDT.Limit)
	}
	return b.String()
}

var rflagsBits = []struct {
	bit  uint64
	name string
}{
	{RFLAGSCF, "CF"}, {RFLAGSPF, "PF"}, {RFLAGSAF, "AF"}, {RFLAGSZF, "ZF"}, {RFLAGSSF, "SF"},
	{RFLAGSTF, "TF"}, {RFLAGSIF, "IF"}, {RFLAGSDF, "DF"}, {RFLAGSOF, "OF"}, {RFLAGSVM, "VM"},
}

func rflagsString(f uint64) string {
	var set []string
	for _, b := range rflagsBits {
		if f&b.bit != 0 {
			set = append(set, b.name)
		}
	}
	if iopl := (f & RFLAGSIOPLMask) >> RFLAGSIOPLShift; iopl != 0 {
		set = append(set, fmt.Sprintf("IOPL=%d", iopl))
	}
	return "[" + strings.Join(set, " ") + "]"
}
