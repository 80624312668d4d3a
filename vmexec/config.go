package vmexec

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/doctor"
	"github.com/gonest/gonest/guest/initkit"
	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/machine"
	"github.com/gonest/gonest/vcpu"
	"github.com/gonest/gonest/vmexec/job"
)

// Defaults of gonest exec.
const (
	DefaultMemory = 1 << 30
	// MaxDefaultCPUs caps the default vCPU count (the host's CPUs).
	MaxDefaultCPUs = 8
	// TailLines is how many console lines a failed run shows.
	TailLines = 40
	// rootCache is how long the guest trusts names and attributes of the
	// read-only root share: the host's toolchain does not change under a
	// command, and a walk of it revalidates every entry at the default 1s.
	rootCache = time.Hour
)

// DefaultCPUs is the host's CPU count, at most MaxDefaultCPUs.
func DefaultCPUs() int { return min(runtime.NumCPU(), MaxDefaultCPUs) }

// Kernel parameters of the guest init.
const (
	// ParamVerbose (gonest.exec.v=1) makes the init log each step.
	ParamVerbose = "gonest.exec.v"
	// ParamTransport names the root's transport when it is not virtio-fs
	// (gonest.exec.root=9p): the init needs to know before it reads the
	// job which modules to load.
	ParamTransport = "gonest.exec.root"
)

// Config is one command to run in a VM.
type Config struct {
	// Args is the command and its arguments; required.
	Args []string
	// Dir is the command's working directory, shared writable with the
	// guest (unless it is /); the current directory when empty.
	Dir string
	// Env is the command's environment before GuestEnv filters it;
	// os.Environ() when nil.
	Env []string
	// RW lists more directories the guest may write through to.
	RW []string

	// Kernel and Modules pick the kernel; both empty: FindKernel's
	// choice.
	Kernel, Modules string
	Memory          uint64 // DefaultMemory when zero
	CPUs            int    // DefaultCPUs() when zero
	Nested          vcpu.Nested
	// Timeout stops the guest and ends with ExitTimeout; zero: never.
	Timeout time.Duration
	// Append is more kernel command line.
	Append string
	// Verbose makes the kernel and the guest init say what they do on the
	// console.
	Verbose bool

	// Stdin, Stdout and Stderr are the command's; nil: empty input,
	// discarded output.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Console gets the guest's serial console (the kernel log and the
	// init's) as it comes; nil keeps only the tail a failure shows.
	Console io.Writer
	// Logger gets gonest's own log (the VMM's at debug level); nil
	// discards it.
	Logger *slog.Logger

	// Init is the statically linked gonest that becomes the guest's
	// /init; this executable when empty.
	Init string
	// CacheDir keeps the initramfs archives; CacheDir() when empty.
	CacheDir string
	// KVMPath is the KVM device; /dev/kvm when empty.
	KVMPath string
	// Transport is how the guest reaches the host's root:
	// job.TransportVirtioFS (gonest's virtio-fs; the default) or
	// job.Transport9P (only under a VMM that offers it, for the
	// benchmark that compares the two).
	Transport string
	// ExtraModules are more modules the guest loads when the kernel has
	// them (the benchmark's 9p).
	ExtraModules []string
}

// Plan is a checked Config: the kernel, the initramfs, the shares and the
// job, ready to boot.
type Plan struct {
	Kernel    Kernel
	Initramfs string // the cached archive's path
	Cached    bool   // the archive was there already
	Modules   string // what the initramfs holds, for -v
	Job       job.Job
	Machine   machine.Config
	cfg       Config
}

// Prepare checks cfg and prepares the run without booting anything: every
// problem with the input is a *UsageError. It builds (or finds in the
// cache) the initramfs.
func Prepare(cfg Config) (*Plan, error) {
	if len(cfg.Args) == 0 || cfg.Args[0] == "" {
		return nil, usagef("no command given after --; usage: gonest exec [flags] -- CMD [ARGS...]")
	}
	if cfg.Memory == 0 {
		cfg.Memory = DefaultMemory
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = DefaultCPUs()
	}
	if cfg.Transport == "" {
		cfg.Transport = job.TransportVirtioFS
	}
	if cfg.Env == nil {
		cfg.Env = os.Environ()
	}
	if cfg.Timeout < 0 {
		return nil, usagef("-timeout %s is negative", cfg.Timeout)
	}
	dir, shares, err := writableDirs(cfg.Dir, cfg.RW)
	if err != nil {
		return nil, err
	}
	exe, err := initBinary(cfg.Init)
	if err != nil {
		return nil, err
	}
	k, err := findKernel(cfg.Kernel, cfg.Modules, hostPlaces(exe, dir))
	if err != nil {
		return nil, err
	}
	var kvm []string
	if cfg.Nested != vcpu.NestedOff {
		vendor, _ := initkit.CPUInfo()
		kvm = kvmModules(vendor)
	}
	mods, err := resolveModules(k.Modules, k.Release, RequiredModules, kvm, cfg.ExtraModules)
	if err != nil {
		return nil, err
	}
	if err := checkKVM(cfg.KVMPath); err != nil {
		return nil, err
	}
	if err := checkStatic(exe); err != nil {
		return nil, err
	}
	submounts, err := hostSubmounts(shares)
	if err != nil {
		return nil, err
	}
	j, err := newJob(cfg, dir, shares, submounts)
	if err != nil {
		return nil, err
	}
	cacheDir := cfg.CacheDir
	if cacheDir == "" {
		cacheDir = CacheDir()
	}
	ir := &initramfs{init: exe, mods: mods}
	archive, cached, err := ir.buildCached(cacheDir)
	if err != nil {
		return nil, err
	}
	p := &Plan{Kernel: k, Initramfs: archive, Cached: cached, Modules: mods.describe(), Job: j, cfg: cfg}
	p.Machine = machine.Config{
		Kernel: k.Path, Initrd: archive, Append: guestCmdline(cfg),
		MemSize: cfg.Memory, CPUs: cfg.CPUs, Nested: cfg.Nested, Timeout: cfg.Timeout,
		KVMPath: cfg.KVMPath, Logger: cfg.Logger,
		Shares: []machine.ShareSpec{{Dir: "/", Tag: job.TagRoot, ReadOnly: true, Cache: rootCache}},
	}
	for _, s := range j.Shares {
		p.Machine.Shares = append(p.Machine.Shares, machine.ShareSpec{Dir: s.Path, Tag: s.Tag})
	}
	return p, nil
}

// guestCmdline is what the guest's kernel gets after gonest's defaults.
func guestCmdline(cfg Config) string {
	var parts []string
	if cfg.Verbose {
		parts = append(parts, ParamVerbose+"=1")
	} else {
		// Each console byte is an exit to the VMM, at every level below a
		// nested one: a quiet kernel boots faster, and a panic still prints.
		parts = append(parts, "quiet")
	}
	if cfg.Transport != job.TransportVirtioFS {
		parts = append(parts, ParamTransport+"="+cfg.Transport)
	}
	if cfg.Append != "" {
		parts = append(parts, cfg.Append)
	}
	return strings.Join(parts, " ")
}

// writableDirs resolves the working directory and the -rw directories to
// real paths, and returns the shares in mount order (parents first, each
// once). The working directory is shared unless it is /: the whole host
// would be writable.
func writableDirs(cwd string, rw []string) (string, []string, error) {
	if cwd == "" {
		var err error
		if cwd, err = os.Getwd(); err != nil {
			return "", nil, usagef("working directory: %v", err)
		}
	}
	dir, err := realDir(cwd)
	if err != nil {
		return "", nil, usagef("working directory %s: %v", cwd, describeOpenError(err))
	}
	var shares []string
	if dir != "/" {
		shares = append(shares, dir)
	}
	for _, d := range rw {
		real, err := realDir(d)
		if err != nil {
			return "", nil, usagef("-rw %s %v; give an existing directory", d, describeOpenError(err))
		}
		if real == "/" {
			return "", nil, usagef("-rw %s would make the host's whole root writable; give a directory below /", d)
		}
		if !slices.Contains(shares, real) {
			shares = append(shares, real)
		}
	}
	slices.Sort(shares) // a parent sorts before its children
	return dir, shares, nil
}

// initBinary is the gonest binary that becomes /init: given, or this
// executable (checkStatic then checks that it can be one).
func initBinary(given string) (string, error) {
	if given != "" {
		return given, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find gonest's own binary: %w", err)
	}
	return exe, nil
}

// checkKVM opens the KVM device read-write, as the run will, so that a
// device the user cannot use is one line before anything is built.
func checkKVM(path string) error {
	if path == "" {
		path = kvm.DevicePath
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return kvmProblem(path, err)
	}
	return unix.Close(fd)
}

// kvmProblem is the one line for a KVM device that did not open.
func kvmProblem(path string, err error) error {
	switch {
	case errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM):
		return usagef("%s is not readable and writable by this user: %s", path, doctor.KVMAccessFix)
	case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENXIO) || errors.Is(err, unix.ENODEV):
		return usagef("%s does not exist: this host has no KVM (load kvm_intel or kvm_amd; gonest doctor says what the host offers)", path)
	}
	return usagef("open %s: %v", path, err)
}

// newJob describes the command for the guest.
func newJob(cfg Config, dir string, shares, submounts []string) (job.Job, error) {
	j := job.Job{
		Args: cfg.Args, Dir: dir, Env: GuestEnv(cfg.Env),
		UID: uint32(os.Getuid()), GID: uint32(os.Getgid()),
		Umask: umask(),
		Root:  job.Root{Tag: job.TagRoot, Transport: cfg.Transport, Submounts: submounts},
	}
	if cfg.Transport != job.TransportVirtioFS {
		// QEMU's 9p crosses the host's mounts itself (multidevs=remap).
		j.Root.Submounts = nil
	}
	if groups, err := os.Getgroups(); err == nil {
		for _, g := range groups {
			j.Groups = append(j.Groups, uint32(g))
		}
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil {
		j.NoFile = [2]uint64{lim.Cur, lim.Max}
	}
	if h, err := os.Hostname(); err == nil {
		j.Hostname = h
	}
	for i, s := range shares {
		j.Shares = append(j.Shares, job.Share{Tag: job.RWTag(i), Path: s})
	}
	if _, err := job.Encode(j); err != nil {
		return job.Job{}, usagef("%v", err)
	}
	return j, nil
}

// umask reads this process's umask from /proc/self/status (Linux 4.7 and
// later), without changing it; 022 when it cannot be read.
func umask() uint32 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0o022
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Umask:"); ok {
			if n, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return uint32(n)
			}
		}
	}
	return 0o022
}

// bootCmdline is the whole kernel command line, for -v.
func (p *Plan) bootCmdline() string { return boot.Cmdline(p.Machine.Append) }
