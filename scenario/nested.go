package scenario

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/gonest/gonest/guest/initkit"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
)

// The nested chains the lab tests run from H. Each boots G1 with gonest
// (-forward, so the lab sees every level's markers and messages) and gives
// G1 a scenario that boots G2:
//
//	l2-tiny   G1 runs tiny-guest: G2 is a tiny ELF that exits with gonest.code,
//	          and that code comes back as every level's verdict
//	l2-linux  G1 runs its KVM tests, then boots G2 Linux (scenario boot); H
//	          checks KVM's nested_run counter of G1's vCPUs while G2's init ran
//	l2-off    G1 gets -nested off and runs tiny-guest: it finds no SVM/VMX,
//	          cannot load its KVM module and reports NoKVM

// child is how this level boots the next one with gonest.
type child struct {
	scenario string // the next level's gonest.scenario
	next     string // its gonest.next: the scenarios of the levels below it
	nested   string // gonest run -nested MODE; empty keeps gonest's default (auto)
	// stats prints gonest's -stats tables on this console when it exits;
	// statsJSON collects them (and each vCPU's nested state) in the result.
	stats, statsJSON bool
	params           map[string]string // more gonest.* parameters for the next level
	expect           guestabi.Verdict  // the verdict wanted (see Env.RunNext)
	window           string            // gonest run -window: what the statistics measure apart
}

// Memory for the next level: one that boots another Linux needs room for
// it; a leaf needs its kernel, initramfs and test binaries (a tiny guest
// needs a few MiB more).
const (
	nestingMemory = 1 << 30
	leafMemory    = 384 << 20
)

// bootsLinux lists the scenarios that boot a Linux guest of their own.
var bootsLinux = map[string]bool{"nested": true, "kvmtests+nested": true, "l2-disk-g1": true, "l2-many-g1": true,
	"l2-qemu-g1": true}

// levelParams are set per level, never inherited.
var levelParams = map[string]bool{
	guestabi.ParamScenario: true, guestabi.ParamLevel: true, guestabi.ParamNext: true, guestabi.ParamTimeout: true,
	guestabi.ParamKernel: true, guestabi.ParamMarkers: true,
}

// inheritedParams returns this level's gonest.* parameters that the next
// level gets too (gonest.code, gonest.testrun, ...).
func inheritedParams(params map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range params {
		if strings.HasPrefix(k, "gonest.") && !levelParams[k] {
			out[k] = v
		}
	}
	return out
}

// spec is the launch.Spec that boots c; disk says whether the next level
// gets its own next-images disk.
func (c child) spec(ctx context.Context, env *Env, disk bool) launch.Spec {
	memory := uint64(leafMemory)
	if bootsLinux[c.scenario] {
		memory = nestingMemory
	}
	s := env.NextSpec(ctx, c.scenario, memory)
	if env.Params[guestabi.ParamKernel] == "vmlinux" {
		s.Kernel = guestabi.NextVmlinux // the ELF, entered through its PVH note
	}
	s.Params = inheritedParams(env.Params)
	for k, v := range c.params {
		s.Params[k] = v
	}
	if c.next != "" {
		s.Params[guestabi.ParamNext] = c.next
	}
	if disk {
		s.Disks = []launch.Disk{{Path: guestabi.NextDisk, ReadOnly: true}}
	}
	s.Nested, s.Stats, s.StatsJSON, s.NestedState = c.nested, c.stats, c.statsJSON, c.statsJSON
	s.Window = c.window
	return s
}

// bootNext boots the next level as c says, from the images at
// guestabi.NextDir, and returns its verdict.
func bootNext(ctx context.Context, env *Env, c child) (guestabi.Verdict, launch.Result) {
	if v, ok := NeedNextLevel(ctx, env); !ok {
		return v, launch.Result{}
	}
	logNestingFeatures(env)
	_, err := os.Stat(guestabi.NextDisk)
	disk := err == nil
	if !disk && bootsLinux[c.scenario] {
		env.Log.Error("the next level boots another, but its images disk is missing; rebuild with `make images`",
			"missing", guestabi.NextDisk)
		return guestabi.SetupError, launch.Result{}
	}
	return env.RunNext(ctx, c.spec(ctx, env, disk), c.expect, nil)
}

// runNested boots the next level with gonest, running the first scenario
// of gonest.next there, and passes its verdict up.
func runNested(ctx context.Context, env *Env) guestabi.Verdict {
	scenario, rest, _ := strings.Cut(env.Param(guestabi.ParamNext, ""), ",")
	if scenario == "" {
		scenario = "kvmtests"
	}
	v, _ := bootNext(ctx, env, child{scenario: scenario, next: rest, stats: env.Param(guestabi.ParamStats, "") == "1"})
	return v
}

// runKVMTestsThenNested runs this level's KVM tests, then boots the next
// level: G1's part of l2-linux, so one boot of G1 proves both.
func runKVMTestsThenNested(ctx context.Context, env *Env) guestabi.Verdict {
	if v := runKVMTests(ctx, env); v != guestabi.Pass {
		return v
	}
	return runNested(ctx, env)
}

func runL2Tiny(ctx context.Context, env *Env) guestabi.Verdict {
	code, err := tinyCode(env.Param(guestabi.ParamCode, ""))
	if err != nil {
		env.Log.Error("bad tiny guest exit code", "err", err)
		return guestabi.SetupError
	}
	v, _ := bootNext(ctx, env, child{scenario: "tiny-guest", expect: guestabi.Verdict(code)})
	return v
}

func runL2Off(ctx context.Context, env *Env) guestabi.Verdict {
	v, _ := bootNext(ctx, env, child{scenario: "tiny-guest", nested: "off", expect: guestabi.NoKVM})
	return v
}

// g2InitWindow is the stretch of l2-linux and l1-many in which only G2
// runs in G1: from G2's first init marker to its last, as G1's gonest
// forwards them.
const g2InitWindow = "+1 init started..+1 scenario end"

func runL2Linux(ctx context.Context, env *Env) guestabi.Verdict {
	// G1 runs gonest -stats too: its console shows G2's exits as G1's
	// VMM saw them, beside H's table of G1's.
	v, res := bootNext(ctx, env, child{scenario: "kvmtests+nested", next: "boot", statsJSON: true,
		params: map[string]string{guestabi.ParamStats: "1"}, window: g2InitWindow})
	if v != guestabi.Pass {
		return v
	}
	runs, err := nestedRuns(res.Stats)
	if err != nil {
		env.Log.Error("G1's statistics", "err", err)
		return guestabi.Fail
	}
	if runs == 0 {
		env.Log.Error("KVM counted no nested_run on G1's vCPUs while G2's init ran: G1 never entered G2 through nested SVM/VMX")
		return guestabi.Fail
	}
	env.Log.Info("G1 ran G2 under nested virtualization", "nested_run", runs)
	env.Result(ResultNestedRun, "", map[string]float64{"nested_run": float64(runs)})
	return guestabi.Pass
}

// ResultNestedRun is l2-linux's result: metric nested_run, KVM's count of
// the VMRUNs (VMLAUNCH/VMRESUMEs) G1 executed for G2, summed over G1's
// vCPUs.
const ResultNestedRun = "nested-run"

// nestedRuns sums KVM's nested_run counter (VMRUN/VMLAUNCH executed by the
// guest and run by KVM for it) over the vCPUs, in the window g2InitWindow
// of gonest's statistics: G1's whole-life counter would also count the
// VMRUNs of the KVM test binaries G1 ran before G2, and pass on them alone.
func nestedRuns(st *launch.Stats) (uint64, error) {
	switch {
	case st == nil:
		return 0, fmt.Errorf("gonest wrote no statistics")
	case len(st.Windows) == 0 || !st.Windows[0].Complete:
		return 0, fmt.Errorf("no complete window %s: G2's init markers did not reach H", g2InitWindow)
	case !st.Windows[0].KVM.Available:
		return 0, fmt.Errorf("no KVM counters: %s", st.Windows[0].KVM.Reason)
	}
	n := st.Windows[0].VCPUDelta("nested_run")
	if n < 0 {
		return 0, fmt.Errorf("nested_run went down by %d", -n)
	}
	return uint64(n), nil
}

// NeedNextLevel is what a scenario that boots the next level checks
// first: KVM at this level (needKVM), gonest, and the next level's images
// mounted.
func NeedNextLevel(ctx context.Context, env *Env) (guestabi.Verdict, bool) {
	if v, ok := needKVM(env); !ok {
		return v, false
	}
	if err := initkit.MountNextImages(ctx, env.Log, initkit.NextImagesWait); err != nil {
		env.Log.Error("the next level's images are missing", "err", err)
		return guestabi.SetupError, false
	}
	for _, p := range []string{guestabi.GonestBinary, guestabi.NextKernel, guestabi.NextInitrd} {
		if _, err := os.Stat(p); err != nil {
			env.Log.Error("image lacks what the next level needs; rebuild with `make images`", "missing", p)
			return guestabi.SetupError, false
		}
	}
	return guestabi.Pass, true
}

// needKVM checks that this level can run guests. Without /dev/kvm it
// tries to load the KVM module for the CPU's vendor anyway, logs why that
// fails (a CPU without svm or vmx: gonest -nested off one level up, say)
// and returns NoKVM.
func needKVM(env *Env) (guestabi.Verdict, bool) {
	if _, err := os.Stat("/dev/kvm"); err == nil {
		return guestabi.Pass, true
	}
	vendor, flags := initkit.CPUInfo()
	mod := initkit.KVMModule(vendor)
	loadErr := initkit.LoadModule(env.Log, mod)
	if loadErr == nil {
		if _, err := os.Stat("/dev/kvm"); err == nil {
			env.Log.Info("KVM module loaded on demand", "module", mod)
			return guestabi.Pass, true
		}
		loadErr = fmt.Errorf("%s loaded but /dev/kvm did not appear", mod)
	}
	env.Log.Error("this level has no usable /dev/kvm, so it cannot boot the next one",
		"vendor", vendor, "cpu_svm", flags["svm"], "cpu_vmx", flags["vmx"], "module", mod, "load", loadErr)
	return guestabi.NoKVM, false
}

// nestingFlags are the /proc/cpuinfo flags that decide how fast this level
// runs the next: SVM's nested paging and the assists that spare the
// hypervisor below work on each exit, and the APIC features that keep
// timer and interrupt traffic off emulated MMIO.
var nestingFlags = []string{"svm", "vmx", "npt", "nrip_save", "vmcb_clean", "decodeassists", "flushbyasid",
	"v_vmsave_vmload", "vgif", "x2apic", "tsc_deadline_timer", "hypervisor"}

// logNestingFeatures logs which nestingFlags this level's CPU shows, and
// its clock source: what the VMM one level up gave it.
func logNestingFeatures(env *Env) {
	_, flags := initkit.CPUInfo()
	var have, lack []string
	for _, f := range nestingFlags {
		if flags[f] {
			have = append(have, f)
		} else {
			lack = append(lack, f)
		}
	}
	clock, err := os.ReadFile("/sys/devices/system/clocksource/clocksource0/current_clocksource")
	if err != nil {
		clock = []byte("unknown")
	}
	env.Log.Info("cpu features for nesting", "has", strings.Join(have, ","), "lacks", strings.Join(lack, ","),
		"clocksource", strings.TrimSpace(string(clock)))
}
