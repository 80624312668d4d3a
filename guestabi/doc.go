// Package guestabi is the contract between a gonest guest and whatever runs
// it: QEMU in the lab, or gonest itself.
//
// A guest booted for a test has no network and no shared folder, so it talks
// to its host through three x86 I/O ports and its kernel command line:
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
//     nested boot spends its time. Bochs has no device there: under it,
//     ParamMarkers makes the init send its markers as marker messages.
//   - MessagePort (0xE9) takes messages: one line each, MessagePrefix
//     then a JSON object (Message), written by EncodeMessage and read by
//     ParseMessage, never by matching log text. A verdict, a marker, an
//     event the level above acts on ("blk-synced"), a measurement. It is
//     the debug-console port that QEMU's isa-debugcon and Bochs's
//     port_e9_hack carry too; gonest's message device reads it, and
//     `gonest run -messages FILE` hands the lines to whoever started
//     gonest (package launch). Lines are bounded (MaxMessageLine).
//   - A VMM that runs inside a guest passes its guest's markers and
//     messages one level up (`gonest run -forward`), raising their depth,
//     so the outermost reader sees every level's.
//   - Parameters named gonest.* on the kernel command line (ParamScenario,
//     ParamLevel, ...) tell cmd/gonest-init what to do.
//
// The paths below (ModulesRoot, NextKernel, ...) are where the images pipeline
// (package images) puts files inside each level's initramfs, so that
// gonest-init in level N can find what level N+1 boots.
//
// Both sides import this package; change a number here and both change.
package guestabi
