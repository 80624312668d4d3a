package kvm

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The literal values below are the kernel's: sizeof() and the _IO* request
// numbers as a C program including <linux/kvm.h> prints them on x86-64.

func TestStructSizesMatchKernel(t *testing.T) {
	tests := []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"kvm_regs", sizeofRegs, 144},
		{"kvm_sregs", sizeofSregs, 312},
		{"kvm_segment", sizeofSegment, 24},
		{"kvm_dtable", sizeofDTable, 16},
		{"kvm_fpu", sizeofFPU, 416},
		{"kvm_msr_entry", sizeofMSREntry, 16},
		{"kvm_msrs", sizeofMSRs, 8},
		{"kvm_msr_list", sizeofMSRList, 4},
		{"kvm_cpuid_entry2", sizeofCPUIDEntry2, 40},
		{"kvm_cpuid2", sizeofCPUID2, 8},
		{"kvm_userspace_memory_region", sizeofUserMemoryRegion, 32},
		{"kvm_pit_config", sizeofPITConfig, 64},
		{"kvm_irq_level", sizeofIRQLevel, 8},
		{"kvm_irq_routing_entry", sizeofIRQRoutingEntry, 48},
		{"kvm_irq_routing", sizeofIRQRouting, 8},
		{"kvm_msi", sizeofMSI, 32},
		{"kvm_irqfd", sizeofIRQFD, 32},
		{"kvm_ioeventfd", sizeofIOEventFD, 64},
		{"kvm_clock_data", sizeofClockData, 48},
		{"kvm_enable_cap", sizeofEnableCap, 104},
		{"kvm_lapic_state", sizeofLAPICState, 1024},
		{"kvm_mp_state", sizeofMPState, 4},
		{"kvm_signal_mask", sizeofSignalMask, 4},
		{"kvm_vcpu_events", sizeofVCPUEvents, 64},
		{"kvm_nested_state", sizeofNestedStateHeader, 128},
		{"kvm_vmx_nested_state_hdr", sizeofVMXNestedHeader, 32},
		{"kvm_svm_nested_state_hdr", sizeofSVMNestedHeader, 8},
		{"kvm_stats_header", sizeofStatsHeader, 24},
		{"kvm_stats_desc", sizeofStatsDesc, 16},
		{"kvm_run", sizeofRunLayout, 2352},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.got)
		})
	}
}

func TestRequestNumbersMatchKernel(t *testing.T) {
	tests := []struct {
		name string
		got  uintptr
		want uintptr
	}{
		{"KVM_GET_API_VERSION", reqGetAPIVersion, 0xae00},
		{"KVM_CREATE_VM", reqCreateVM, 0xae01},
		{"KVM_GET_MSR_INDEX_LIST", reqGetMSRIndexList, 0xc004ae02},
		{"KVM_CHECK_EXTENSION", reqCheckExtension, 0xae03},
		{"KVM_GET_VCPU_MMAP_SIZE", reqGetVCPUMmapSize, 0xae04},
		{"KVM_GET_SUPPORTED_CPUID", reqGetSupportedCPUID, 0xc008ae05},
		{"KVM_GET_EMULATED_CPUID", reqGetEmulatedCPUID, 0xc008ae09},
		{"KVM_GET_MSR_FEATURE_INDEX_LIST", reqGetMSRFeatureIndexList, 0xc004ae0a},
		{"KVM_CREATE_VCPU", reqCreateVCPU, 0xae41},
		{"KVM_SET_USER_MEMORY_REGION", reqSetUserMemoryRegion, 0x4020ae46},
		{"KVM_SET_TSS_ADDR", reqSetTSSAddr, 0xae47},
		{"KVM_SET_IDENTITY_MAP_ADDR", reqSetIdentityMapAddr, 0x4008ae48},
		{"KVM_CREATE_IRQCHIP", reqCreateIRQChip, 0xae60},
		{"KVM_IRQ_LINE", reqIRQLine, 0x4008ae61},
		{"KVM_IRQ_LINE_STATUS", reqIRQLineStatus, 0xc008ae67},
		{"KVM_SET_GSI_ROUTING", reqSetGSIRouting, 0x4008ae6a},
		{"KVM_IRQFD", reqIRQFD, 0x4020ae76},
		{"KVM_CREATE_PIT2", reqCreatePIT2, 0x4040ae77},
		{"KVM_IOEVENTFD", reqIOEventFD, 0x4040ae79},
		{"KVM_SET_CLOCK", reqSetClock, 0x4030ae7b},
		{"KVM_GET_CLOCK", reqGetClock, 0x8030ae7c},
		{"KVM_ENABLE_CAP", reqEnableCap, 0x4068aea3},
		{"KVM_SIGNAL_MSI", reqSignalMSI, 0x4020aea5},
		{"KVM_GET_STATS_FD", reqGetStatsFD, 0xaece},
		{"KVM_RUN", reqRun, 0xae80},
		{"KVM_GET_REGS", reqGetRegs, 0x8090ae81},
		{"KVM_SET_REGS", reqSetRegs, 0x4090ae82},
		{"KVM_GET_SREGS", reqGetSregs, 0x8138ae83},
		{"KVM_SET_SREGS", reqSetSregs, 0x4138ae84},
		{"KVM_GET_MSRS", reqGetMSRs, 0xc008ae88},
		{"KVM_SET_MSRS", reqSetMSRs, 0x4008ae89},
		{"KVM_SET_SIGNAL_MASK", reqSetSignalMask, 0x4004ae8b},
		{"KVM_GET_FPU", reqGetFPU, 0x81a0ae8c},
		{"KVM_SET_FPU", reqSetFPU, 0x41a0ae8d},
		{"KVM_GET_LAPIC", reqGetLAPIC, 0x8400ae8e},
		{"KVM_SET_LAPIC", reqSetLAPIC, 0x4400ae8f},
		{"KVM_SET_CPUID2", reqSetCPUID2, 0x4008ae90},
		{"KVM_GET_CPUID2", reqGetCPUID2, 0xc008ae91},
		{"KVM_GET_MP_STATE", reqGetMPState, 0x8004ae98},
		{"KVM_SET_MP_STATE", reqSetMPState, 0x4004ae99},
		{"KVM_GET_VCPU_EVENTS", reqGetVCPUEvents, 0x8040ae9f},
		{"KVM_SET_VCPU_EVENTS", reqSetVCPUEvents, 0x4040aea0},
		{"KVM_GET_NESTED_STATE", reqGetNestedState, 0xc080aebe},
		{"KVM_SET_NESTED_STATE", reqSetNestedState, 0x4080aebf},
		{"KVM_GET_TSC_KHZ", reqGetTSCKHz, 0xaea3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.got, "%s = %#x, want %#x", tt.name, tt.got, tt.want)
		})
	}
}
