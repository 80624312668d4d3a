// Package scenario holds what a gonest guest can be booted to do: the
// table that gonest.scenario=NAME picks from (Table), each scenario a
// func(context.Context, *Env) guestabi.Verdict.
//
// A scenario that boots the next level describes it as a launch.Spec
// (Env.NextSpec: gonest from the images at guestabi.NextDir, the
// console prefixed with the next level's name, markers and messages
// forwarded up) and runs it with Env.RunNext, which returns the next
// level's verdict from its verdict message and prints the failing
// levels' tails. A scenario that talks to the level above does it with
// messages (Env.Report: events such as "blk-synced", results such as a
// benchmark's row), never with log lines that the level above would have
// to match.
//
// cmd/gonest-init boots every level and runs one scenario; the lab's tests
// (package lab) start H with one and check its verdict. To add a
// scenario, write the function in a file of its own and add a line to
// Table; docs/lab.md shows how to run it in the lab.
package scenario
