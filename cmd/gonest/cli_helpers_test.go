package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/internal/tinyelf"
)

// The end-to-end tests run the real gonest binary as a subprocess, the way
// a user or a CI job does: exit codes, stdout and stderr are what they see.

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// gonestBinary builds cmd/gonest once per test process (CGO_ENABLED=0, as
// released, or with -race under go test -race) and returns its path.
func gonestBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "gonest-cli-test-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "gonest")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if raceEnabled {
			cmd = exec.Command("go", "build", "-race", "-o", binPath, ".")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			binErr = errors.New("go build ./cmd/gonest: " + err.Error() + "\n" + out.String())
		}
	})
	require.NoError(t, binErr)
	return binPath
}

// result is what one gonest run left behind.
type result struct {
	code           int
	stdout, stderr string
	elapsed        time.Duration
}

// runBinary runs gonest with args in dir, stdin empty, and waits at most
// limit. A run that outlives limit fails the test: gonest must not hang.
func runBinary(t *testing.T, dir string, limit time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, gonestBinary(t), args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	require.NoError(t, ctx.Err(), "gonest %q still running after %s; stderr: %s", args, limit, r.stderr)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else {
		require.NoError(t, err, "start gonest")
	}
	return r
}

// assertNoCrash checks that output holds no Go panic or stack trace.
func assertNoCrash(t *testing.T, out string) {
	t.Helper()
	for _, s := range []string{"panic", "goroutine ", "runtime.", ".go:", "DATA RACE"} {
		assert.NotContains(t, out, s, "gonest printed a crash or stack trace")
	}
}

// snapshotMaxHash is how much of each file snapshot hashes.
const snapshotMaxHash = 64 << 20

// snapshot hashes every file under dir, so a test can prove that a run
// changed, created and removed nothing.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return err
			}
			// Huge (sparse) files: their head, size and mtime suffice.
			h := sha256.New()
			if _, err := io.Copy(h, io.LimitReader(f, snapshotMaxHash)); err != nil {
				return err
			}
			files[rel] = fmt.Sprintf("%x %d %s %s", h.Sum(nil), st.Size(), st.Mode(), st.ModTime())
		default:
			files[rel] = d.Type().String()
		}
		return nil
	})
	require.NoError(t, err)
	return files
}

// writeFile writes b to dir/name and returns the path.
func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

// Offsets of the bzImage setup header (Documentation/arch/x86/boot.rst).
const (
	hdrSetupSects   = 0x1F1 // setup_sects
	hdrSysSize      = 0x1F4 // syssize, in 16-byte paragraphs
	hdrBootFlag     = 0x1FE // boot_flag: 0xAA55
	hdrJump         = 0x200 // jump: 0xEB, offset to the end of the header
	hdrMagic        = 0x202 // header: "HdrS"
	hdrVersion      = 0x206 // version
	hdrLoadFlags    = 0x211 // loadflags
	hdrCode32Start  = 0x214 // code32_start
	hdrInitrdMax    = 0x22C // initrd_addr_max
	hdrKernelAlign  = 0x230 // kernel_alignment
	hdrRelocatable  = 0x234 // relocatable_kernel
	hdrXLoadFlags   = 0x236 // xloadflags
	hdrCmdlineSize  = 0x238 // cmdline_size
	hdrPrefAddress  = 0x258 // pref_address
	hdrInitSize     = 0x260 // init_size
	hdrEnd          = 0x268 // first byte after the 2.15 header
	loadedHigh      = 0x01  // loadflags LOADED_HIGH
	xlfKernel64     = 0x01  // xloadflags XLF_KERNEL_64
	xlfAbove4G      = 0x02  // xloadflags XLF_CAN_BE_LOADED_ABOVE_4G
	bootFlagMagic   = 0xAA55
	bzKernelLen     = 4096
	bzSetupSects    = 1
	bzInitrdAddrMax = 0x37FF_FFFF
	emAArch64       = 183 // ELF e_machine EM_AARCH64
	emX86_64        = 62  // ELF e_machine EM_X86_64
	elfMachineOff   = 18  // offset of e_machine in an ELF header
)

// bzImage returns a well-formed synthetic bzImage: protocol 2.15,
// relocatable 64-bit kernel, 16 MiB preferred address, 8 MiB init_size,
// command lines up to 2047 bytes. Its code is never run by these tests:
// each one breaks something so that gonest refuses it before booting.
func bzImage(mods ...func(b []byte)) []byte {
	off := (bzSetupSects + 1) * 512
	b := make([]byte, off+bzKernelLen)
	le := binary.LittleEndian
	b[hdrSetupSects] = bzSetupSects
	le.PutUint32(b[hdrSysSize:], bzKernelLen/16)
	le.PutUint16(b[hdrBootFlag:], bootFlagMagic)
	b[hdrJump], b[hdrJump+1] = 0xEB, hdrEnd-hdrJump-2
	copy(b[hdrMagic:], "HdrS")
	le.PutUint16(b[hdrVersion:], 0x020F)
	b[hdrLoadFlags] = loadedHigh
	le.PutUint32(b[hdrCode32Start:], 0x100000)
	le.PutUint32(b[hdrInitrdMax:], bzInitrdAddrMax)
	le.PutUint32(b[hdrKernelAlign:], 0x20_0000)
	b[hdrRelocatable] = 1
	le.PutUint16(b[hdrXLoadFlags:], xlfKernel64|xlfAbove4G)
	le.PutUint32(b[hdrCmdlineSize:], 2047)
	le.PutUint64(b[hdrPrefAddress:], 0x100_0000)
	le.PutUint32(b[hdrInitSize:], 0x80_0000)
	for i := off; i < len(b); i++ {
		b[i] = 0xF4 // hlt
	}
	for _, m := range mods {
		m(b)
	}
	return b
}

// tinyKernel writes a tiny ELF kernel running code and returns its path.
func tinyKernel(t *testing.T, dir, name string, code []byte) string {
	t.Helper()
	p, err := tinyelf.Write(dir, name, code)
	require.NoError(t, err)
	return p
}

// runGuest writes a to dir as a tiny ELF kernel called name and runs
// gonest run -kernel on it with more args, in dir, on this host's KVM.
func runGuest(t *testing.T, dir, name string, a *tinyelf.Asm, args ...string) result {
	t.Helper()
	needKVM(t)
	k := tinyKernel(t, dir, name, a.Bytes())
	return runBinary(t, dir, guestLimit, append([]string{"run", "-kernel", k}, args...)...)
}

// oneLineOn asserts that s is exactly one non-empty line.
func oneLineOn(t *testing.T, s string) {
	t.Helper()
	assert.True(t, strings.HasSuffix(s, "\n") && strings.Count(s, "\n") == 1 && len(s) > 1,
		"want exactly one line on stderr, got %q", s)
}
