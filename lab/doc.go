// Package lab runs a gonest guest under a software emulator that emulates
// hardware virtualization: QEMU's TCG for AMD SVM, Bochs for Intel VMX, the
// only places this project can test gonest end to end on real KVM.
//
// The development machines' own /dev/kvm cannot nest (docs/lab.md says
// why), but QEMU in TCG mode with -cpu EPYC,+svm
// emulates AMD SVM well enough for Debian's kernel to load kvm_amd with
// nested=1. That guest is the lab host H. Inside it gonest-init runs a
// scenario (package scenario, run by cmd/gonest-init): the KVM integration
// tests, or gonest booting G1, which may boot G2.
//
// Run starts H through package launch, with QEMU-TCG as the VMM: it
// streams H's serial console to Config.Log with the prefix "[H] " (so a
// nested line reads "[H] [G1] [G2] ..."), timestamps the boot markers the
// guest writes to port 0xF8 and collects the messages it writes to port
// 0xE9 (isa-debugcon on two Unix sockets), and decodes the verdict from
// QEMU's exit status: isa-debug-exit on port 0xF4 makes QEMU exit with
// (verdict<<1)|1. A test passes or fails on that verdict and on messages,
// never on console text.
//
// When no verdict arrives (a timeout, a kernel panic, QEMU failing to
// start) Run returns an error that says what happened and ends with the last
// lines each level printed, so a CI log shows the failing level's tail.
//
// RunBochs is the same for the Intel lab: H under Bochs, whose CPU model
// emulates VMX, so H loads kvm_intel. It starts H through launch too, with
// Bochs as the VMM (bochsVMM). Bochs has no -kernel option, no virtio, no
// marker device and no exit device, so the VMM boots H from an ISOLINUX
// CD it builds per run (G1's images ride along as a second initrd), has
// Bochs write H's serial console and its own log into pipes, and reads
// Bochs's stdout, where port 0xE9's bytes come out, as the message
// stream: H's init, told gonest.markers=messages, sends its markers there
// too, and its verdict message is the verdict (Bochs exits 1 whether H
// powered off or Bochs panicked: launch.StatusBlind). On a timeout Bochs
// is killed with SIGKILL (its compiled-in debugger ignores SIGTERM), and
// the error ends with the tails of H's console, Bochs's output and
// Bochs's log.
//
// Package lab/labtest finds the built images for tests; the lab tests
// themselves live in lab_test.go and its siblings and run with `make
// lab-test`; the Intel lab's in intel_test.go, run by `make test-intel`.
package lab
