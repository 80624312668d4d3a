package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/gonest/gonest/guestabi"
)

// ParamNext lists the scenarios of the levels below this one, nearest
// first: gonest.next=nested,kvmtests at H runs "nested" in G1 and
// "kvmtests" in G2. Empty means the next level runs kvmtests.
const ParamNext = "gonest.next"

// ParamStats (gonest.stats=1) makes the nested scenario run gonest with
// -stats, so each level's console shows its guest's exits and KVM
// counters; l2-linux sets it for G1.
const ParamStats = "gonest.stats"

// child is how this level boots the next one with gonest.
type child struct {
	scenario string // the next level's gonest.scenario
	next     string // its gonest.next: the scenarios of the levels below it
	nested   string // gonest run -nested MODE; empty keeps gonest's default (auto)
	// stats adds -stats: the tables go to this console when gonest exits.
	stats bool
	// statsJSON, when set, adds -stats, -stats-json statsJSON and -nested-state.
	statsJSON string
	// params are more key=value parameters for the next level.
	params []string
	// expect is the verdict wanted from the next level (see ChildIO.Expect).
	expect guestabi.Verdict
}

// bootsLinux lists the scenarios that boot a Linux guest of their own, and
// so need room for its memory.
var bootsLinux = map[string]bool{"nested": true, "kvmtests+nested": true}

// nextMemory sizes the next level from its chain (its scenario first): one
// that boots another Linux needs room for it; a leaf needs its kernel,
// initramfs and test binaries (a tiny guest needs a few MiB more).
func nextMemory(next string) string {
	scenario, _, _ := strings.Cut(next, ",")
	if bootsLinux[scenario] {
		return "1G"
	}
	return "384M"
}

// levelParams are set per level by nextCmdline, never inherited.
var levelParams = map[string]bool{
	guestabi.ParamScenario: true, guestabi.ParamLevel: true, ParamNext: true, guestabi.ParamTimeout: true,
	guestabi.ParamKernel: true,
}

// nextKernel is the kernel file for the next level: the bzImage, or with
// gonest.kernel=vmlinux the uncompressed ELF (booted through its PVH note).
func nextKernel(params map[string]string) string {
	if params[guestabi.ParamKernel] == "vmlinux" {
		return guestabi.NextVmlinux
	}
	return guestabi.NextKernel
}

// inheritedParams returns this level's gonest.* parameters that the next
// level gets too (gonest.code, gonest.testrun, ...), as key=value, sorted.
func inheritedParams(params map[string]string) []string {
	var out []string
	for k, v := range params {
		if !strings.HasPrefix(k, "gonest.") || levelParams[k] {
			continue
		}
		if strings.ContainsAny(v, " \t") {
			v = `"` + v + `"`
		}
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// nextCmdline is what this level adds to the next level's kernel command
// line; gonest puts its own defaults (console=ttyS0 panic=-1 ...) first.
// quiet matters: each console byte of a nested guest costs exits at
// every level. A non-zero timeout becomes the next level's gonest.timeout;
// inherited parameters (key=value) follow.
func nextCmdline(level, next string, timeout time.Duration, inherited ...string) string {
	scenario, rest, _ := strings.Cut(next, ",")
	if scenario == "" {
		scenario = "kvmtests"
	}
	parts := []string{"quiet",
		guestabi.ParamScenario + "=" + scenario, guestabi.ParamLevel + "=" + guestabi.NextLevel(level)}
	if rest != "" {
		parts = append(parts, ParamNext+"="+rest)
	}
	if timeout > 0 {
		parts = append(parts, guestabi.ParamTimeout+"="+timeout.String())
	}
	return strings.Join(append(parts, inherited...), " ")
}

// gonestArgs is the `gonest run` command line that boots c. disk says
// whether the next level gets its own next-images disk; childTimeout
// becomes its gonest.timeout and vmmTimeout gonest's -timeout (0: none).
func (c child) gonestArgs(level string, params map[string]string, disk bool, childTimeout, vmmTimeout time.Duration) []string {
	chain := c.scenario
	if c.next != "" {
		chain += "," + c.next
	}
	args := []string{"run",
		"-m", nextMemory(chain),
		"-kernel", nextKernel(params),
		"-initrd", guestabi.NextInitrd,
		// The outermost VMM (the lab's QEMU) sees every level's markers.
		"-forward",
	}
	if disk {
		args = append(args, "-disk", guestabi.NextDisk+",ro")
	}
	if c.nested != "" {
		args = append(args, "-nested", c.nested)
	}
	switch {
	case c.statsJSON != "":
		args = append(args, "-stats", "-stats-json", c.statsJSON, "-nested-state")
	case c.stats:
		args = append(args, "-stats")
	}
	if vmmTimeout > 0 {
		args = append(args, "-timeout", vmmTimeout.String())
	}
	inherited := append(inheritedParams(params), c.params...)
	return append(args, "-append", nextCmdline(level, chain, childTimeout, inherited...))
}

// runNested boots the next level with gonest, running the first scenario
// of gonest.next there, and passes its verdict up (see Env.RunChild).
func runNested(ctx context.Context, env *Env) guestabi.Verdict {
	scenario, rest, _ := strings.Cut(env.Param(ParamNext, ""), ",")
	if scenario == "" {
		scenario = "kvmtests"
	}
	return bootNext(ctx, env, child{scenario: scenario, next: rest, stats: env.Param(ParamStats, "") == "1"})
}

// runKVMTestsThenNested runs this level's KVM tests, then boots the next
// level: G1's part of l2-linux, so one boot of G1 proves both.
func runKVMTestsThenNested(ctx context.Context, env *Env) guestabi.Verdict {
	if v := runKVMTests(ctx, env); v != guestabi.Pass {
		return v
	}
	return runNested(ctx, env)
}

// bootNext boots the next level as c says, from the images at
// guestabi.NextDir, and returns its verdict.
func bootNext(ctx context.Context, env *Env, c child) guestabi.Verdict {
	if v, ok := needNextLevel(ctx, env); !ok {
		return v
	}
	logNestingFeatures(env)
	for _, p := range []string{guestabi.GonestBinary, guestabi.NextKernel, guestabi.NextInitrd} {
		if _, err := os.Stat(p); err != nil {
			env.Log.Error("image lacks what the next level needs; rebuild with `make images`", "missing", p)
			return guestabi.SetupError
		}
	}
	_, err := os.Stat(guestabi.NextDisk)
	disk := err == nil
	if !disk && bootsLinux[c.scenario] {
		env.Log.Error("the next level boots another, but its images disk is missing; rebuild with `make images`",
			"missing", guestabi.NextDisk)
		return guestabi.SetupError
	}
	// The next level gets 80% of the time left here and its VMM 90%, so
	// the innermost level reports its own timeout first, then gonest (exit
	// 124, statistics printed), before this level's deadline kills anything.
	args := c.gonestArgs(env.Level, env.Params, disk, env.Budget(ctx, 0.8, 0), env.Budget(ctx, 0.9, 0))
	return env.RunChildIO(ctx, ChildIO{Expect: c.expect}, guestabi.GonestBinary, args...)
}

// needNextLevel is what a scenario that boots the next level checks
// first: KVM at this level (needKVM), and the next level's images mounted.
func needNextLevel(ctx context.Context, env *Env) (guestabi.Verdict, bool) {
	if v, ok := needKVM(env); !ok {
		return v, false
	}
	if err := mountNextImages(ctx, env.Log, nextImagesWait); err != nil {
		env.Log.Error("the next level's images are missing", "err", err)
		return guestabi.SetupError, false
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
	vendor, flags := cpuInfo()
	mod := "kvm_intel"
	if vendor == "AuthenticAMD" || vendor == "HygonGenuine" {
		mod = "kvm_amd"
	}
	loadErr := loadModuleByName(env.Log, mod)
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
	_, flags := cpuInfo()
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
