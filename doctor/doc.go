// Package doctor answers one question about a host: can a gonest guest
// here run KVM guests of its own? That is nested virtualization: the host
// (L0) runs gonest's guest G1 (L1), and G1's own KVM runs G2 (L2). The
// answer comes as one verdict line and one line of evidence per check, for
// `gonest doctor` (text) and `gonest doctor -json` (tools, and `make run`,
// which branches on the exit code: 0 can nest, 1 cannot).
//
// # What nesting needs, and what each check looks at
//
// For G1 to run G2 with KVM, G1's CPU must have the virtualization
// extension: SVM on AMD, VMX on Intel. G1's CPU is whatever the host's KVM
// lets it see, so everything hinges on the host's KVM offering SVM or VMX
// to its guests. The checks, in report order:
//
//   - device: /dev/kvm exists and opens read-write. If not, kvm.OpenError
//     says why (not loaded, or the user is not in the device's group), and
//     the evidence shows the node as ls -l would (crw-rw---- root:kvm).
//   - api_version: KVM_GET_API_VERSION is 12, as on every KVM since 2007.
//   - backend: the kernel module behind /dev/kvm (package hostinfo).
//     kvm_amd and kvm_intel drive SVM and VMX hardware and can nest.
//     kvm_pvm (PVM, the Pagetable Virtual Machine) is KVM without hardware
//     virtualization, for cloud guests whose provider disables nesting: it
//     never offers SVM or VMX to its guests, so it cannot nest, and it
//     emulates ring-0 guest code instruction by instruction.
//   - nested_param: kvm_amd and kvm_intel offer SVM/VMX to guests only when
//     loaded with nested=1 (/sys/module/kvm_amd/parameters/nested).
//   - supported_cpuid: the decisive check. KVM_GET_SUPPORTED_CPUID is the
//     CPUID a VMM may give its guests; with SVM (Fn8000_0001 ECX bit 2) or
//     VMX (leaf 1 ECX bit 5) in it, G1 can load kvm_amd or kvm_intel.
//   - ept_npt: two-dimensional paging. The host module's npt/ept parameter
//     says whether the host uses it for G1; CPUID Fn8000_000A EDX bit 0
//     (AMD) or the EPT bit of the VMX secondary controls (Intel) says
//     whether G1 gets it for G2. Without it G1 must shadow G2's page
//     tables: nesting works, slowly (a warning, not a failure).
//   - nested_state: KVM_CHECK_EXTENSION(KVM_CAP_NESTED_STATE) is the size
//     of the largest nested state KVM_GET_NESTED_STATE returns (4224 on
//     the lab's kvm_amd). It comes with kvm_amd and kvm_intel whatever
//     their nested parameter; 0 means KVM has no nested support at all.
//   - vmx_msrs (Intel): KVM describes the VMX it offers G1 in the VMX
//     capability MSRs 0x480-0x491, read on /dev/kvm itself through the
//     feature-MSR interface (KVM_GET_MSR_FEATURE_INDEX_LIST, then
//     KVM_GET_MSRS) and decoded by DecodeVMX into names: EPT, VPID,
//     unrestricted guest (G2 may run real mode natively), shadow VMCS, and
//     every allowed control. KVM offers shadow VMCS to G1 always, because
//     it emulates it (nested_vmx_setup_ctls_msrs in
//     arch/x86/kvm/vmx/nested.c): the bit says nothing about whether G1's
//     VMREAD/VMWRITE exit. That is decided by the host's enable_shadow_vmcs
//     parameter, which the speed parameters below read.
//     IA32_VMX_MISC (DecodeVMXMisc) gives the VMX-preemption timer's rate:
//     nested KVM emulates the timer and reports rate 5, one tick per 32 TSC
//     cycles, whatever the CPU's (VMX_MISC_EMULATED_PREEMPTION_TIMER_RATE,
//     nested_vmx_setup_ctls_msrs).
//   - svm_features (AMD): CPUID Fn8000_000A as KVM offers it, decoded by
//     DecodeSVMCaps. KVM offers at most what svm_set_cpu_caps
//     (arch/x86/kvm/svm/svm.c, Linux 6.1) sets: NPT, NRIPS (the next RIP
//     on #VMEXIT, which spares G1 decoding instructions), VMCB clean bits,
//     TSC rate MSR, virtual VMLOAD/VMSAVE, LBR virtualization, pause filter
//     and threshold, VGIF and VMCB address check, each only where the host
//     CPU and the module's parameters allow; never DecodeAssists or AVIC.
//   - host_virt: this machine's own CPU's VMX features ("vmx flags" in
//     /proc/cpuinfo, which Linux 5.8+ fills from the CPU's capability
//     MSRs) or SVM feature flags: what KVM here builds on, to read next to
//     vmx_msrs or svm_features, what it offers G1. In a nested lab H's
//     list is the emulator's CPU model; where the two differ, KVM does not
//     emulate that feature for its guests.
//   - timing: a probe guest counts a register down with "dec rcx; jnz" at
//     CPL 0, then at CPL 3. The doctor stops it after a fixed window (half
//     of DefaultProbeBudget each) and reads the register back to learn how
//     many rounds it did, so even a busy or very slow host is done on time.
//     Where KVM runs the guest's code directly, both levels take about as
//     long: 4 to 26 ns a round in the lab's H (KVM inside QEMU TCG, whose
//     CPU is itself emulated; the figure follows the load of the machine
//     running QEMU). kvm_pvm takes 1000 to 2300 ns at CPL 0 but 0.24 to
//     0.51 ns at CPL 3, which it runs natively on this project's
//     development machines. That gap is how a host that emulates ring 0
//     shows itself: a Linux kernel crawls there even without nesting. The
//     probe cannot tell real hardware from an emulated CPU that KVM runs
//     directly, so it never claims hardware speed. (All figures are gonest
//     doctor's own output on those hosts.)
//   - host_is_guest: the CPUID hypervisor bit, /sys/hypervisor and the DMI
//     vendor. A host that is itself a VM can nest only if its own
//     hypervisor passes SVM/VMX through, and G2 becomes a third level.
//
// After the checks the report lists the host module's parameters that
// decide what a nested exit costs (ReadSpeedParams): nrips, vls, vgif and
// avic for kvm_amd (arch/x86/kvm/svm/svm.c), ept, vpid,
// enable_shadow_vmcs and enable_apicv for kvm_intel (arch/x86/kvm/vmx/),
// each with what it spares G1 and G2 and the kernel function that says
// so. The kernel clears a parameter at load time when the CPU lacks the
// feature, so the value read is what KVM really uses: the lab's H, under
// QEMU's SVM, reads nrips=0, vls=0 and vgif=0, and each entry into G2
// costs it VMLOAD, VMSAVE, CLGI and STGI exits.
//
// Each check has a status: ok, warn (nesting works but worse than it
// could), fail (this rules nesting out, or is broken) or unavailable (the
// host lacks the interface, or it does not apply, such as VMX MSRs on AMD).
// A host lacking any interface gives "unavailable" lines, never a panic.
//
// # The verdict
//
// Nesting is possible when /dev/kvm opens, the backend is not kvm_pvm, the
// nested parameter is not off, and the supported CPUID has SVM or VMX. The
// verdict names the first missing piece and what to do about it, such as
// "reload it with nested=1", or, on this project's kvm_pvm machines, "run
// the nested demo in the lab".
//
// # Testing
//
// Examine works on a Host: an fs.FS for /sys, /proc, /dev and /etc, and an
// OpenKVM function returning the small KVM interface (the few ioctls the
// checks need plus LoopFor, the timing guest). Unit tests describe whole
// hosts with fstest.MapFS and a fake KVM; one integration test runs the
// real doctor on /dev/kvm through kvmtest.
//
// StartupWarning is the cheap part of the doctor for `gonest run`: it reads
// module parameters only and returns the line to print before booting.
package doctor
