package main

import (
	"context"

	"github.com/gonest/gonest/guestabi"
)

// Scenario is one thing a guest can be booted to do.
type Scenario struct {
	Name string
	Doc  string
	Run  func(ctx context.Context, env *Env) guestabi.Verdict
}

// scenarios is the table gonest.scenario=NAME picks from. Add a line here
// (and usually a lab test in package lab) for each new scenario.
var scenarios = []Scenario{
	{"kvmtests", "run the KVM integration test binaries in " + guestabi.TestsDir + " against this level's /dev/kvm", runKVMTests},
	{"shell", "start an interactive shell on the console; exiting it powers off", runShell},
	{"disk", "mount the first virtio-blk disk (disk.ext4) read-only and check " + guestabi.DiskCheckFile, runDisk},
	{"nested", "boot the next level with gonest (" + guestabi.NextKernel + ") and report its verdict", runNested},
}

// lookupScenario finds a scenario by name.
func lookupScenario(name string) (Scenario, bool) {
	for _, s := range scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}
