package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/gonest/gonest/vmexec/vmexectest"
)

// execFiles is a kernel and two module trees, one complete, one lacking
// what gonest exec needs.
type execFiles struct {
	dir, kernel, modules, few string
}

func newExecFiles(t *testing.T) execFiles {
	t.Helper()
	dir := t.TempDir()
	f := execFiles{dir: dir, kernel: filepath.Join(dir, "vmlinuz")}
	vmexectest.WriteFile(t, f.kernel, string(vmexectest.BzImage("6.1.0-57-amd64 #1")))
	f.modules = vmexectest.Modules(t, filepath.Join(dir, "mods"), "6.1.0-57-amd64", vmexectest.DebianModules)
	f.few = vmexectest.Modules(t, filepath.Join(dir, "few"), "6.1.0-57-amd64", map[string]string{"kernel/fs/overlayfs/overlay.ko": ""})
	return f
}

// runExec runs gonest with args in dir, with its own empty cache
// directory, optionally as another user, and returns how it ended and
// what the cache holds afterwards.
func runExec(t *testing.T, dir string, cred *syscall.Credential, args ...string) (result, []string) {
	t.Helper()
	cache := t.TempDir()
	require.NoError(t, os.Chmod(cache, 0o777))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, gonestBinary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+cache)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	require.NoError(t, ctx.Err(), "gonest %q still running; stderr: %s", args, stderr.String())
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	ents, err := os.ReadDir(cache)
	require.NoError(t, err)
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	return r, left
}

// TestExecBadInvocations: every mistake is one line on stderr and exit 2,
// before anything is built or booted.
func TestExecBadInvocations(t *testing.T) {
	f := newExecFiles(t)
	ok := []string{"exec", "-kernel", f.kernel, "-modules", f.modules}
	with := func(extra ...string) []string { return append(append([]string{}, ok...), extra...) }
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", []string{"exec"}, "gonest exec: no command given after --"},
		{"nothing after --", []string{"exec", "--"}, "gonest exec: no command given after --"},
		{"nothing after -- with flags", with("--"), "gonest exec: no command given after --"},
		{"missing kernel", []string{"exec", "-kernel", "nope", "-modules", f.modules, "--", "true"}, "-kernel nope does not exist"},
		{"missing modules directory", []string{"exec", "-kernel", f.kernel, "-modules", "nomods", "--", "true"}, "-modules nomods does not exist"},
		{"modules lacking what exec needs", []string{"exec", "-kernel", f.kernel, "-modules", f.few, "--", "true"},
			"lacks modules gonest exec needs: virtio_pci, virtio_console, virtiofs"},
		{"modules without kernel", []string{"exec", "-modules", f.modules, "--", "true"}, "-modules " + f.modules + " needs -kernel"},
		{"kernel without modules", []string{"exec", "-kernel", f.kernel, "--", "true"}, "needs -modules DIR"},
		{"missing -rw directory", with("-rw", "nodir", "--", "true"), "-rw nodir does not exist"},
		{"-rw on a file", with("-rw", f.kernel, "--", "true"), "is not a directory"},
		{"unknown flag", with("-bogus", "--", "true"), "gonest exec: flag provided but not defined: -bogus"},
		{"bad -nested", with("-nested", "maybe", "--", "true"), `-nested "maybe"`},
		{"bad -timeout", with("-timeout", "soon", "--", "true"), `invalid value "soon" for flag -timeout`},
		{"negative -timeout", with("-timeout", "-5s", "--", "true"), "-timeout -5s is negative"},
		{"bad -m", with("-m", "lots", "--", "true"), `invalid value "lots" for flag -m`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(t, f.dir)
			r, cache := runExec(t, f.dir, nil, tc.args...)
			t.Logf("exit %d: %s", r.code, strings.TrimSpace(r.stderr))
			assert.Equal(t, 2, r.code, "stderr: %s", r.stderr)
			oneLineOn(t, r.stderr)
			assert.Contains(t, r.stderr, tc.want)
			assert.True(t, strings.HasPrefix(r.stderr, "gonest exec: "), "%q", r.stderr)
			assert.Empty(t, r.stdout)
			assertNoCrash(t, r.stdout+r.stderr)
			assert.Empty(t, cache, "nothing cached for bad input")
			assert.Equal(t, before, snapshot(t, f.dir), "no file changed")
		})
	}
}

// TestExecNoKernelAnywhere: no kernel given, none installed, none from
// make images: one line saying what to do.
func TestExecNoKernelAnywhere(t *testing.T) {
	var uts unix.Utsname
	require.NoError(t, unix.Uname(&uts))
	host := "/boot/vmlinuz-" + unix.ByteSliceToString(uts.Release[:])
	if f, err := os.Open(host); err == nil {
		f.Close()
		t.Skipf("this host's kernel %s is readable: gonest exec would boot it", host)
	}
	r, cache := runExec(t, t.TempDir(), nil, "exec", "--", "true")
	assert.Equal(t, 2, r.code)
	oneLineOn(t, r.stderr)
	assert.Contains(t, r.stderr, "gonest exec: no kernel to boot: the host's kernel "+host)
	assert.Contains(t, r.stderr, "give -kernel PATH -modules DIR")
	assert.Empty(t, cache)
}

// TestExecAsUserWithoutAccess: a user who may not read the kernel, or
// may not open /dev/kvm, gets one line with the fix (for /dev/kvm: the
// group, the udev rule, chmod) and exit 2, before anything is built.
func TestExecAsUserWithoutAccess(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run gonest as another user")
	}
	f := newExecFiles(t)
	// The other user must reach the binary, the kernel and the modules.
	bin := filepath.Join(f.dir, "gonest")
	b, err := os.ReadFile(gonestBinary(t))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, b, 0o755))
	require.NoError(t, os.Chmod(f.dir, 0o755))
	require.NoError(t, os.Chmod(filepath.Dir(f.dir), 0o755))
	require.NoError(t, os.Chmod(f.kernel, 0o644))
	private := filepath.Join(f.dir, "vmlinuz-private")
	require.NoError(t, os.WriteFile(private, vmexectest.BzImage("6.1.0-57-amd64 #1"), 0o600))

	kvmSkip := ""
	if st, err := os.Stat("/dev/kvm"); err != nil {
		kvmSkip = "no /dev/kvm on this host"
	} else if st.Mode().Perm()&0o006 == 0o006 {
		kvmSkip = "/dev/kvm is open to every user here"
	}
	tests := []struct {
		name   string
		kernel string
		want   []string
		skip   string
	}{
		{"unreadable kernel", private, []string{"gonest exec: -kernel " + private + " is not readable by this user"}, ""},
		{"no access to /dev/kvm", f.kernel,
			[]string{"gonest exec: /dev/kvm is not readable and writable by this user", "usermod -aG kvm", "99-kvm4all.rules", "sudo chmod 666 /dev/kvm"},
			kvmSkip},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip != "" {
				t.Skip(tc.skip)
			}
			cmd := exec.Command(bin, "exec", "-kernel", tc.kernel, "-modules", f.modules, "--", "true")
			cmd.Dir = f.dir
			cache := t.TempDir()
			require.NoError(t, os.Chmod(cache, 0o777))
			cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+cache)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee, "stderr: %s", stderr.String())
			assert.Equal(t, 2, ee.ExitCode())
			oneLineOn(t, stderr.String())
			for _, want := range tc.want {
				assert.Contains(t, stderr.String(), want)
			}
			ents, err := os.ReadDir(cache)
			require.NoError(t, err)
			assert.Empty(t, ents, "nothing cached for bad input")
		})
	}
}

func TestExecHelp(t *testing.T) {
	r, _ := runExec(t, t.TempDir(), nil, "exec", "-h")
	assert.Equal(t, 0, r.code)
	for _, want := range []string{"Usage: gonest exec [flags] -- CMD [ARGS...]", "go test -exec 'gonest exec --'", "-rw DIR", "125 the VM ended before CMD did", "127 CMD not found"} {
		assert.Contains(t, r.stdout, want)
	}
	assert.NotContains(t, r.stdout, "(default 0", "a zero flag means its documented default")
	assert.Empty(t, r.stderr)
}
