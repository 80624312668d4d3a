package vmexec

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gonest/gonest/doctor"
	"github.com/gonest/gonest/vcpu"
	"github.com/gonest/gonest/vmexec/job"
)

// prepWorld is what Prepare needs, all fake: a kernel and its modules, a
// gonest binary, a KVM device that opens, a working directory.
type prepWorld struct {
	root, kernel, modules, init, kvm, work, cache string
}

func newPrepWorld(t *testing.T) prepWorld {
	t.Helper()
	root := t.TempDir()
	w := prepWorld{root: root, kernel: filepath.Join(root, "vmlinuz"), work: filepath.Join(root, "work"),
		kvm: filepath.Join(root, "kvm"), cache: filepath.Join(root, "cache")}
	writeTestFile(t, w.kernel, string(fakeBzImage("6.1.0-57-amd64 #1")))
	w.modules = fakeModules(t, filepath.Join(root, "modules"), "6.1.0-57-amd64", debianModules)
	w.init = staticInit(t, root)
	writeTestFile(t, w.kvm, "")
	require.NoError(t, os.MkdirAll(w.work, 0o755))
	return w
}

func (w prepWorld) config(args ...string) Config {
	return Config{Args: args, Dir: w.work, Kernel: w.kernel, Modules: w.modules, Init: w.init, KVMPath: w.kvm,
		CacheDir: w.cache, Env: []string{"PATH=/usr/bin:/bin", "DISPLAY=:0", "HOME=/home/u"}}
}

func TestPrepare(t *testing.T) {
	w := newPrepWorld(t)
	out := filepath.Join(w.root, "out")
	require.NoError(t, os.Mkdir(out, 0o755))
	link := filepath.Join(w.root, "work-link")
	require.NoError(t, os.Symlink(w.work, link))
	cfg := w.config("sh", "-c", "exit 7")
	cfg.RW = []string{out, link}
	cfg.Timeout = 90e9
	p, err := Prepare(cfg)
	require.NoError(t, err)

	assert.Equal(t, "-kernel", p.Kernel.Source)
	assert.Equal(t, []string{"sh", "-c", "exit 7"}, p.Job.Args)
	assert.Equal(t, w.work, p.Job.Dir)
	assert.Equal(t, []string{"PATH=/usr/bin:/bin", "HOME=/home/u"}, p.Job.Env)
	assert.Equal(t, uint32(os.Getuid()), p.Job.UID)
	assert.Equal(t, job.Root{Tag: job.TagRoot, Transport: job.TransportVirtioFS, Submounts: p.Job.Root.Submounts}, p.Job.Root)
	assert.Equal(t, []job.Share{{Tag: "gonest.rw0", Path: out}, {Tag: "gonest.rw1", Path: w.work}}, p.Job.Shares,
		"the working directory and -rw, by real path, each once, parents first")

	m := p.Machine
	assert.Equal(t, w.kernel, m.Kernel)
	assert.Equal(t, p.Initramfs, m.Initrd)
	assert.Equal(t, uint64(DefaultMemory), m.MemSize)
	assert.Equal(t, DefaultCPUs(), m.CPUs)
	assert.Equal(t, cfg.Timeout, m.Timeout)
	assert.Equal(t, "quiet", m.Append)
	require.Len(t, m.Shares, 3)
	assert.Equal(t, "/", m.Shares[0].Dir)
	assert.True(t, m.Shares[0].ReadOnly, "the host's root is read-only")
	assert.Equal(t, rootCache, m.Shares[0].Cache)
	assert.False(t, m.Shares[1].ReadOnly)
	assert.Equal(t, out, m.Shares[1].Dir)
	_, err = os.Stat(p.Initramfs)
	assert.NoError(t, err)
	_, err = job.Encode(p.Job)
	assert.NoError(t, err)
}

func TestPrepareVerboseAnd9P(t *testing.T) {
	w := newPrepWorld(t)
	cfg := w.config("true")
	cfg.Verbose, cfg.Transport, cfg.Append = true, job.Transport9P, "nokaslr"
	p, err := Prepare(cfg)
	require.NoError(t, err)
	assert.Equal(t, "gonest.exec.v=1 gonest.exec.root=9p nokaslr", p.Machine.Append)
	assert.Empty(t, p.Job.Root.Submounts, "9p crosses the host's mounts itself")
	assert.True(t, strings.HasPrefix(p.bootCmdline(), "console=ttyS0"))
}

// Every bad input is one line, a *UsageError, and nothing is built.
func TestPrepareBadInput(t *testing.T) {
	w := newPrepWorld(t)
	missingMods := fakeModules(t, filepath.Join(w.root, "few"), "6.1.0-57-amd64", map[string]string{"kernel/fs/overlayfs/overlay.ko": ""})
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no command", func(c *Config) { c.Args = nil }, "no command given after --"},
		{"empty command", func(c *Config) { c.Args = []string{""} }, "no command given after --"},
		{"missing kernel", func(c *Config) { c.Kernel = filepath.Join(w.root, "nope") }, "-kernel " + filepath.Join(w.root, "nope") + " does not exist"},
		{"kernel a directory", func(c *Config) { c.Kernel = w.root }, "-kernel " + w.root + " is not a regular file"},
		{"empty kernel", func(c *Config) { c.Kernel = emptyFile(t, w.root) }, "is empty"},
		{"missing modules dir", func(c *Config) { c.Modules = filepath.Join(w.root, "nope") }, "does not exist"},
		{"modules missing", func(c *Config) { c.Modules = missingMods }, "lacks modules gonest exec needs: virtio_pci, virtio_console, virtiofs"},
		{"missing -rw", func(c *Config) { c.RW = []string{filepath.Join(w.root, "nope")} }, "-rw " + filepath.Join(w.root, "nope") + " does not exist"},
		{"-rw a file", func(c *Config) { c.RW = []string{w.kernel} }, "is not a directory"},
		{"-rw /", func(c *Config) { c.RW = []string{"/"} }, "whole root writable"},
		{"missing working dir", func(c *Config) { c.Dir = filepath.Join(w.root, "gone") }, "working directory"},
		{"no KVM", func(c *Config) { c.KVMPath = filepath.Join(w.root, "no-kvm") }, "does not exist: this host has no KVM"},
		{"dynamic gonest", func(c *Config) { c.Init = dynamicInit(t, w.root) }, "statically linked"},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := w.config("true")
			tt.change(&cfg)
			_, err := Prepare(cfg)
			require.Error(t, err)
			assert.True(t, IsUsageError(err), "%v", err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "\n")
			_, statErr := os.Stat(w.cache)
			assert.True(t, errors.Is(statErr, os.ErrNotExist), "nothing built for bad input")
		})
	}
}

func TestKVMProblem(t *testing.T) {
	for _, errno := range []unix.Errno{unix.EACCES, unix.EPERM} {
		err := kvmProblem("/dev/kvm", errno)
		assert.True(t, IsUsageError(err))
		assert.Equal(t, "/dev/kvm is not readable and writable by this user: "+doctor.KVMAccessFix, err.Error())
	}
	assert.Contains(t, kvmProblem("/dev/kvm", unix.ENOENT).Error(), "does not exist")
	assert.Contains(t, kvmProblem("/dev/kvm", unix.EBUSY).Error(), "open /dev/kvm: device or resource busy")
}

func TestPrepareNestedOffLeavesKVMOut(t *testing.T) {
	w := newPrepWorld(t)
	cfg := w.config("true")
	cfg.Nested = vcpu.NestedOff
	p, err := Prepare(cfg)
	require.NoError(t, err)
	assert.NotContains(t, p.Modules, " kvm")
	cfg.Nested = vcpu.NestedAuto
	cfg.CacheDir = filepath.Join(w.root, "cache2")
	p, err = Prepare(cfg)
	require.NoError(t, err)
	if !slices.ContainsFunc(strings.Fields(p.Modules), func(s string) bool { return s == "kvm_amd" || s == "kvm_intel" }) {
		t.Errorf("modules %q: want this CPU's KVM module with -nested auto", p.Modules)
	}
}

func TestUmask(t *testing.T) {
	old := unix.Umask(0o027)
	defer unix.Umask(old)
	assert.Equal(t, uint32(0o027), umask())
}

func emptyFile(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "empty-vmlinuz")
	require.NoError(t, os.WriteFile(p, nil, 0o644))
	return p
}
