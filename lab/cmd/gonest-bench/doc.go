// Command gonest-bench runs one benchmark scenario in the lab and prints
// its result rows: `make bench-boot` runs
//
//	gonest-bench -scenario bench-boot
//
// which boots H from the bench image (images/out/h-bench.cpio.gz: H's
// initramfs plus QEMU, `make bench-images`), where gonest-init times gonest
// and QEMU microvm side by side (package scenario/bench) and reports each
// table row as a result message (guestabi.ResultBenchRow) on the message
// port, which the lab reads from QEMU's isa-debugcon:
//
//	lab G1 boot (start → init marker): gonest ..., QEMU microvm ..., ratio ...
//
// gonest-bench prints each row's text on its own line of stdout (`make
// bench` collects them into one table) and keeps the whole console log in
// -log. Any scenario that reports bench-row results works the same way.
//
// Exit status: 0 when the scenario passed and printed at least one row; 1
// otherwise, with the error and the log's last lines on stderr.
package main
