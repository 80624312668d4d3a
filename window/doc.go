// Package window measures one stretch of a run, between two guest markers:
// KVM's in-kernel counters, the exits that reached userspace, and, where
// tracefs allows, L0's exit tracepoints (package ktrace).
//
// gonest's counters are cumulative over the whole life of a VM, and a
// nested VMM's counters mix its guest's exits with those of the guests
// that guest runs. A window isolates what a learner asks about: "while G2
// ran this loop, how many exits did each level take?". The guest writes a
// marker before its loop and one after (guestabi markers, forwarded up by
// every nested gonest with -forward), and each VMM in the chain
// opens its window at the first and closes it at the second:
//
//	G2 writes "scenario start"   G1's gonest sees it at depth 0, H's at depth 1 ("+1 scenario start")
//	G2's loop
//	G2 writes "scenario end"     the windows close
//
// Opening reads the counters (machine.Machine.Counters) and starts the
// trace; closing reads them again and stops it; the Result holds the
// differences. Both happen inside the marker's exit, on the vCPU's
// thread, before the guest goes on, so the window holds exactly the work
// between the two markers, plus the constant cost of one marker exit at
// each end (measure it with a loop of zero iterations).
//
// A window that opens again after closing starts a new Result, so one run
// of G1 that starts several G2 workloads in turn gives H one Result per
// workload, in order.
//
// A Series cuts the whole run into equal intervals instead (gonest run
// -stats-interval): the same differences, one Sample per interval, for
// seeing when the counters moved rather than how much over one stretch.
package window
