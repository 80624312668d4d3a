package scenario

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/tinyelf"
	"github.com/gonest/gonest/launch"
	"golang.org/x/sys/unix"
)

// Several G2s in one G1 (l2-many). H boots G1 with two vCPUs; G1 boots
// three G2 Linux guests at once, each with its own disk (a file in G1's
// RAM, holding its name) and its own console. When all three have
// checked their disks and said so, G1 counts the VMs its KVM runs, then
// boots a fourth guest that crashes at once (a tiny guest that
// triple-faults). Only then does G1 tell the three, on their consoles,
// to go on: each writes to its disk and passes. The crash must fail the
// crasher's verdict alone. H measures G1 between its "measure start"
// (the three start) and "measure end" (all three ready, before the
// crash) markers with its exit tracepoints, which tell the guest vCPUs
// G1 entered apart.

const (
	// manyG2s is how many G2s run at once.
	manyG2s = 3
	// manyG1Memory holds G1 and what its three G2s touch of their RAM.
	manyG1Memory = 1536 << 20
	// manyG2Memory is each G2's.
	manyG2Memory = 256 << 20
	// manyImages is where G1 writes the G2s' disks.
	manyImages = "/tmp/l2-many"
	// manyBlock is the disk's block: a header, the pattern, a reply.
	manyBlock = 4096
	// manyPattern is the size of the pattern after the header.
	manyPattern = 1 << 20
	// eventManyReady is a G2's event once it checked its disk.
	eventManyReady = "many-ready"
	// manyGo is the console line that tells a G2 to go on.
	manyGo = "go"
	// crasherLevel names the guest that crashes.
	crasherLevel = "G2crash"
	// ResultManyVMs is G1's result: metrics vms (the VMs its KVM ran
	// while the three were ready) and each VM's exits.
	ResultManyVMs = "many-vms"
)

// manyLevels names the three G2s.
var manyLevels = []string{"G2a", "G2b", "G2c"}

// manySerial is the serial of level's disk.
func manySerial(level string) string { return "l2-many-" + level }

// manyHeader is the first block of level's disk.
func manyHeader(level string) []byte {
	b := make([]byte, manyBlock)
	copy(b, "gonest l2-many disk of "+level+"\n")
	return b
}

// manyReply is what level writes in its disk's last block.
func manyReply(level string) []byte {
	b := make([]byte, manyBlock)
	copy(b, "written by "+level+" after the crash\n")
	return b
}

// runL2Many is H's side of l2-many.
func runL2Many(ctx context.Context, env *Env) guestabi.Verdict {
	if v, ok := NeedNextLevel(ctx, env); !ok {
		return v
	}
	logNestingFeatures(env)
	spec := child{scenario: "l2-many-g1", statsJSON: true}.spec(ctx, env, true)
	spec.CPUs, spec.Memory, spec.NestedState = 2, manyG1Memory, false
	spec.Window, spec.TraceExits = guestabi.MarkerMeasureStart.String()+".."+guestabi.MarkerMeasureEnd.String(), true
	v, res := env.RunNext(ctx, spec, guestabi.Pass, nil)
	if v != guestabi.Pass {
		return v
	}
	if res.Stats == nil || len(res.Stats.Windows) != 1 || !res.Stats.Windows[0].Complete {
		env.Log.Error("H's gonest did not measure G1 while its three G2s ran (one window, closed by G1's measure end marker)")
		return guestabi.Fail
	}
	w := res.Stats.Windows[0]
	if w.Trace == nil {
		env.Log.Error("no exit tracepoints in H's window", "why", w.TraceUnavailable)
		return guestabi.Fail
	}
	a := w.Trace.Attribute()
	runs, _ := w.VCPUSum("nested_run")
	env.Log.Info("l2-many: H's KVM while G1 ran its G2s", "guest_vcpus_entered", a.Guests, "nested_run", runs,
		"reflected", a.Reflected, "g1_exits_per_reflected", fmt.Sprintf("%.1f", a.L1ExitsPerReflected))
	for _, g := range w.Trace.Event("kvm_nested_vmenter").Guests {
		env.Log.Info("l2-many: G1 entered a guest vCPU", "vmcb12", fmt.Sprintf("%#x", g.ControlBlock), "times", g.Count)
	}
	env.Result(ResultManyVMs, "H", map[string]float64{"guest_vcpus": float64(a.Guests), "nested_run": float64(runs)})
	if a.Guests != manyG2s {
		env.Log.Error("H's KVM saw G1 enter a number of guest vCPUs other than its G2s'", "entered", a.Guests, "want", manyG2s)
		return guestabi.Fail
	}
	return guestabi.Pass
}

// manyG2 is one of G1's three G2s while it runs.
type manyG2 struct {
	level string
	image string
	stdin *os.File      // the write end of its console input
	ready chan struct{} // closed at its ready event, or when its run ended
	once  sync.Once
	done  chan struct{} // closed when its run ended; v and res are set
	v     guestabi.Verdict
	res   launch.Result
}

// runL2ManyG1 is G1's side of l2-many.
func runL2ManyG1(ctx context.Context, env *Env) guestabi.Verdict {
	if v, ok := NeedNextLevel(ctx, env); !ok {
		return v
	}
	if _, err := os.Stat(guestabi.NextDiskInitrd); err != nil {
		env.Log.Error("no initramfs with disk drivers for G2; rebuild the images with `make images`", "err", err)
		return guestabi.SetupError
	}
	g2s, err := startMany(ctx, env)
	if err != nil {
		env.Log.Error("start the G2s", "err", err)
		return guestabi.SetupError
	}
	c := &checks{env: env}
	defer func() {
		for _, g := range g2s {
			g.stdin.Close()
		}
	}()
	for _, g := range g2s {
		select {
		case <-g.ready:
		case <-ctx.Done():
			c.fail("a G2 never said it was ready", "level", g.level)
			return c.verdict()
		}
	}
	env.Report.Marker(guestabi.MarkerMeasureEnd)
	vms, err := kvmVMs()
	if err != nil {
		c.fail("list G1's KVM VMs in debugfs", "err", err)
	}
	metrics := map[string]float64{"vms": float64(len(vms))}
	for _, vm := range vms {
		env.Log.Info("l2-many: a VM of G1's KVM", "debugfs", vm.name, "exits", vm.exits)
		metrics["exits."+vm.name] = float64(vm.exits)
	}
	env.Result(ResultManyVMs, "G1", metrics)
	if len(vms) != manyG2s {
		c.fail("G1's KVM runs a number of VMs other than its G2s", "vms", len(vms), "want", manyG2s)
	}
	crash(ctx, env, c)
	for _, g := range g2s {
		if _, err := g.stdin.WriteString(manyGo + "\n"); err != nil {
			c.fail("tell a G2 to go on", "level", g.level, "err", err)
		}
	}
	for _, g := range g2s {
		<-g.done // each run ends by its own timeout at the latest
		if g.v != guestabi.Pass {
			c.fail("a G2 did not pass", "level", g.level, "verdict", g.v)
			continue
		}
		checkManyReply(c, g)
	}
	return c.verdict()
}

// startMany writes the three disks and boots the three G2s, each in its
// goroutine; G1's measure start marker comes first.
func startMany(ctx context.Context, env *Env) ([]*manyG2, error) {
	env.Report.Marker(guestabi.MarkerMeasureStart)
	var g2s []*manyG2
	for _, level := range manyLevels {
		g := &manyG2{level: level, image: filepath.Join(manyImages, level+".img"), ready: make(chan struct{}), done: make(chan struct{})}
		img := append(manyHeader(level), diskPattern(manySerial(level), manyPattern).Bytes()...)
		img = append(img, make([]byte, manyBlock)...)
		if err := os.MkdirAll(manyImages, 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(g.image, img, 0o644); err != nil {
			return nil, err
		}
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("console pipe: %w", err)
		}
		g.stdin = w
		spec := env.NextSpec(ctx, "l2-many-g2", manyG2Memory)
		spec.Level, spec.Initrd, spec.Stdin = level, guestabi.NextDiskInitrd, r
		spec.Disks = []launch.Disk{{Path: g.image, Serial: manySerial(level)}}
		spec.Params = inheritedParams(env.Params)
		obs := &launch.Observer{Message: func(m launch.Message) {
			if m.Depth == 0 && m.IsEvent(eventManyReady) {
				g.once.Do(func() { close(g.ready) })
			}
		}}
		g2s = append(g2s, g)
		go func() {
			g.v, g.res = env.RunNext(ctx, spec, guestabi.Pass, obs)
			r.Close()
			g.once.Do(func() { close(g.ready) }) // a G2 that ended is as ready as it gets
			close(g.done)
		}()
	}
	return g2s, nil
}

// crash boots the sibling that triple-faults, while the three G2s wait:
// its gonest must exit 1 (a crash), which is its verdict, Fail.
func crash(ctx context.Context, env *Env, c *checks) {
	dir, err := os.MkdirTemp("", "crash-")
	if err != nil {
		c.fail("temp dir for the crashing guest", "err", err)
		return
	}
	defer os.RemoveAll(dir)
	var a tinyelf.Asm
	// ud2 with no IDT: #UD cannot be delivered, nor the #DF that follows,
	// so the CPU shuts down (a triple fault), which KVM reports as
	// KVM_EXIT_SHUTDOWN.
	a.Print(0x3f8, "a sibling of the G2s crashes now\n").Ud2()
	prog, err := tinyelf.Write(dir, "crash.elf", a.Bytes())
	if err != nil {
		c.fail("write the crashing guest", "err", err)
		return
	}
	spec := launch.Spec{VMM: launch.Gonest{Binary: guestabi.GonestBinary}, Kernel: prog, Memory: tinyGuestMemory,
		Level: crasherLevel, Timeout: env.Budget(ctx, 0.5, defaultTinyTimeout), Console: env.Console}
	env.Log.Info("l2-many: the three G2s are ready; booting a sibling that crashes")
	v, res := env.RunNext(ctx, spec, guestabi.Fail, nil)
	switch {
	case v != guestabi.Fail:
		c.fail("the crashing sibling's verdict is not fail", "verdict", v, "why", res.Reason)
	case res.ExitCode != 1:
		c.fail("the crashing sibling's gonest did not exit 1 (a guest crash)", "status", res.ExitCode)
	default:
		env.Log.Info("l2-many: the sibling crashed and failed alone", "status", res.ExitCode, "gonest", crashLine(res.Tails["gonest"]))
	}
}

// crashLine is the line of gonest's output that names the crash (its
// KVM exit), or the last line, or "".
func crashLine(lines []string) string {
	for _, l := range lines {
		if strings.Contains(l, "KVM_EXIT_") {
			return l
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return lines[len(lines)-1]
}

// checkManyReply checks that g's disk holds its reply, written after the
// crash, and still its header: no sibling wrote it.
func checkManyReply(c *checks, g *manyG2) {
	b, err := os.ReadFile(g.image)
	if err != nil {
		c.fail("read a G2's disk", "level", g.level, "err", err)
		return
	}
	if len(b) != 2*manyBlock+manyPattern || string(b[:manyBlock]) != string(manyHeader(g.level)) ||
		string(b[len(b)-manyBlock:]) != string(manyReply(g.level)) {
		c.fail("a G2's disk does not hold its header and its reply", "level", g.level, "image", g.image)
		return
	}
	c.env.Log.Info("l2-many: G2 passed and wrote its own disk", "level", g.level, "verdict", g.v)
}

// runL2ManyG2 is each G2's side of l2-many: check its own disk, say it is
// ready, wait on its console for G1's go (sent after the crash), then
// write its reply to its disk.
func runL2ManyG2(ctx context.Context, env *Env) guestabi.Verdict {
	dev := testDisk(ctx, env, manySerial(env.Level))
	if dev == "" {
		return guestabi.SetupError
	}
	c := &checks{env: env}
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		c.fail("open the disk", "device", dev, "err", err)
		return c.verdict()
	}
	defer f.Close()
	buf, err := unix.Mmap(-1, 0, manyBlock+manyPattern, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		c.fail("buffer", "err", err)
		return c.verdict()
	}
	defer unix.Munmap(buf)
	if _, err := f.ReadAt(buf, 0); err != nil {
		c.fail("read the disk", "err", err)
		return c.verdict()
	}
	if string(buf[:manyBlock]) != string(manyHeader(env.Level)) {
		c.fail("the disk is not this G2's", "device", dev, "header", strings.TrimRight(string(buf[:64]), "\x00\n"))
		return c.verdict()
	}
	if want := diskPattern(manySerial(env.Level), manyPattern); string(buf[manyBlock:]) != string(want.Bytes()) {
		c.fail("the disk's pattern differs from what G1 wrote", "device", dev)
		return c.verdict()
	}
	env.Log.Info("l2-many: my disk is mine; ready", "level", env.Level, "device", dev)
	env.Event(eventManyReady, "device", dev)
	if err := waitLine(ctx, os.Stdin, manyGo); err != nil {
		c.fail("no go from G1 on the console", "err", err)
		return c.verdict()
	}
	copy(buf, manyReply(env.Level))
	if _, err := f.WriteAt(buf[:manyBlock], manyBlock+manyPattern); err != nil {
		c.fail("write the reply", "err", err)
	} else if err := f.Sync(); err != nil {
		c.fail("sync the disk", "err", err)
	}
	return c.verdict()
}

// waitLine reads lines from r until one is want, r ends or ctx does.
func waitLine(ctx context.Context, r *os.File, want string) error {
	got := make(chan error, 1)
	go func() {
		var line []byte
		b := make([]byte, 1)
		for {
			if _, err := r.Read(b); err != nil {
				got <- err
				return
			}
			if b[0] != '\n' {
				line = append(line, b[0])
				continue
			}
			if strings.TrimSpace(string(line)) == want {
				got <- nil
				return
			}
			line = line[:0]
		}
	}()
	select {
	case err := <-got:
		return err
	case <-ctx.Done():
		return fmt.Errorf("waited for %q: %w", want, ctx.Err())
	}
}
