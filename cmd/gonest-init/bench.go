//go:build gonest_bench

package main

import "github.com/gonest/gonest/scenario/bench"

// benchScenarios are the benchmarks, in the bench image's init only:
// images/bench.mk builds this init with -tags gonest_bench and puts it in
// the overlay that h-bench.cpio.gz adds to H's image. The other levels
// never run them.
var benchScenarios = bench.Scenarios

// benchHelpers are the commands the bench image's init also is, by the
// name it is called as: the guest side of bench-exec's file system run.
var benchHelpers = map[string]func(args []string) int{bench.FSHelperName: bench.FSHelper}
