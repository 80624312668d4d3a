// Package guestabi is the contract between a gonest guest and whatever runs
// it: QEMU in the lab, or gonest itself.
//
// A guest booted for a test has no network and no shared folder, so it talks
// to its host through two x86 I/O ports and its kernel command line:
//
//   - ExitPort (0xF4) ends the run. The guest's init writes one byte, a
//     Verdict, and the VMM exits with it. Under QEMU the port is
//     isa-debug-exit and QEMU's exit status becomes (verdict<<1)|1; under
//     gonest it is gonest's exit device and gonest's exit status is the
//     verdict itself. Either way a CI job sees pass or fail without reading
//     any console text.
//   - MarkerPort (0xF8) takes boot timing markers (MarkerInitStarted, ...).
//     Under QEMU the lab connects it to isa-debugcon and timestamps each byte;
//     gonest's timing device does the same. Markers let a learner see where a
//     nested boot spends its time.
//   - Parameters named gonest.* on the kernel command line (ParamScenario,
//     ParamLevel, ...) tell cmd/gonest-init what to do.
//
// The paths below (ModulesDir, NextKernel, ...) are where the images pipeline
// (package images) puts files inside each level's initramfs, so that
// gonest-init in level N can find what level N+1 boots.
//
// Both sides import this package; change a number here and both change.
package guestabi
