// Command gonest-lab boots the lab host H with one scenario and streams its
// console: `make lab SCENARIO=kvmtests` runs it.
//
// With -vendor amd (the default) H runs under QEMU's software SVM and loads
// kvm_amd. The shell scenario is interactive there (QEMU gets the
// terminal; type `exit` to stop, or Ctrl-A x to kill QEMU).
//
// With -vendor intel (`make lab VENDOR=intel`) H runs under Bochs, whose
// CPU model emulates VMX, and loads kvm_intel. H boots from a CD that
// ISOLINUX loads the kernel, H's initramfs and h-next.cpio (G1's images)
// from; see lab.RunBochs.
//
// Its exit status is the scenario's verdict (0 pass, see package guestabi),
// 125 when no verdict came back (timeout, panic, QEMU or Bochs failure),
// or 2 for a bad flag.
package main
