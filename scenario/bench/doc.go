// Package bench holds the benchmark scenarios, which compare gonest with
// QEMU microvm as the VMM of the same guest inside the lab's H (the bench
// image of H carries QEMU; `make bench` runs them):
//
//	bench-boot    G1 boot to its init marker, and gonest's memory overhead
//	bench-nested  G2 launch: G1 init → G2 verdict, with G1 under each VMM
//	bench-blk     G1's O_DIRECT sequential reads behind each VMM's virtio-blk
//
// All three are one loop (alternate): boot the guest with gonest, then
// with QEMU, N times, collect a metric from each launch.Result, and report
// a table row (a result message, guestabi.ResultBenchRow) with the
// medians, their spread and each pair's own ratio. Both VMMs are timed the
// same way: launch timestamps each marker and message as it arrives.
package bench
