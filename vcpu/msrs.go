package vcpu

import (
	"fmt"

	"github.com/gonest/gonest/kvm"
)

// MSRs gonest initialises before the first KVM_RUN.
const (
	msrIA32TSC            = 0x10       // IA32_TIME_STAMP_COUNTER
	msrIA32FeatureControl = 0x3a       // IA32_FEATURE_CONTROL
	msrIA32SysenterCS     = 0x174      // IA32_SYSENTER_CS
	msrIA32SysenterESP    = 0x175      // IA32_SYSENTER_ESP
	msrIA32SysenterEIP    = 0x176      // IA32_SYSENTER_EIP
	msrIA32MiscEnable     = 0x1a0      // IA32_MISC_ENABLE
	msrMTRRDefType        = 0x2ff      // IA32_MTRR_DEF_TYPE
	msrSTAR               = 0xc0000081 // STAR: legacy SYSCALL target
	msrLSTAR              = 0xc0000082 // LSTAR: 64-bit SYSCALL target
	msrCSTAR              = 0xc0000083 // CSTAR: compat SYSCALL target
	msrSyscallMask        = 0xc0000084 // SFMASK
	msrKernelGSBase       = 0xc0000102 // KERNEL_GS_BASE

	miscEnableFastString = 1 << 0 // IA32_MISC_ENABLE: fast string operations

	mtrrDefTypeEnable = 1 << 11 // IA32_MTRR_DEF_TYPE.E: MTRRs enabled
	mtrrTypeWriteBack = 6       // memory type WB

	featureControlLocked        = 1 << 0 // IA32_FEATURE_CONTROL.Lock
	featureControlVMXOutsideSMX = 1 << 2 // IA32_FEATURE_CONTROL: VMXON allowed outside SMX
)

// BootMSRs lists the MSR values a vCPU starts Linux with: syscall and
// sysenter MSRs cleared, fast strings on, and MTRRs enabled with write-back
// as the default type (without it Linux maps all RAM uncached). When the
// guest sees VMX, IA32_FEATURE_CONTROL is locked with VMXON allowed outside
// SMX, as firmware does, so kvm_intel in the guest can load; it must be set
// after KVM_SET_CPUID2, since KVM checks it against the guest's CPUID.
func BootMSRs(exposesVMX bool) []kvm.MSREntry {
	msrs := []kvm.MSREntry{
		{Index: msrIA32SysenterCS},
		{Index: msrIA32SysenterESP},
		{Index: msrIA32SysenterEIP},
		{Index: msrSTAR},
		{Index: msrLSTAR},
		{Index: msrCSTAR},
		{Index: msrSyscallMask},
		{Index: msrKernelGSBase},
		{Index: msrIA32TSC},
		{Index: msrIA32MiscEnable, Data: miscEnableFastString},
		{Index: msrMTRRDefType, Data: mtrrDefTypeEnable | mtrrTypeWriteBack},
	}
	if exposesVMX {
		msrs = append(msrs, kvm.MSREntry{Index: msrIA32FeatureControl, Data: featureControlLocked | featureControlVMXOutsideSMX})
	}
	return msrs
}

// SetBootMSRs writes BootMSRs to v. KVM_SET_MSRS stops at the first MSR it
// rejects and returns how many it set; anything short of all is an error
// naming the MSR.
func SetBootMSRs(v *kvm.VCPU, exposesVMX bool) error {
	msrs := BootMSRs(exposesVMX)
	n, err := v.SetMSRs(msrs)
	if err != nil {
		return fmt.Errorf("vcpu %d: boot MSRs: %w", v.ID(), err)
	}
	if n != len(msrs) {
		return fmt.Errorf("vcpu %d: KVM_SET_MSRS rejected MSR %#x (set %d of %d)", v.ID(), msrs[n].Index, n, len(msrs))
	}
	return nil
}
