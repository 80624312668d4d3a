package vcpu_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/devices"
	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/vcpu"
)

// BenchmarkPortIOExit measures port-I/O exit round trips: a guest doing
// OUTs to a null device, each one a KVM_RUN that returns to userspace, is
// decoded, dispatched through the bus to the device and resumed.
//
// The guest runs at CPL 3 in long mode (userOutLoopGuest). On this
// project's kvm_pvm hosts, CPL 0 and real-mode code is emulated instruction
// by instruction (~1 µs each), which would swamp the exit cost; CPL 3 code
// runs natively there, and on ordinary VMX/SVM KVM it makes no difference.
//
// For comparison the benchmark builds a C program (with gcc, into a temp
// dir) that runs the same guest image and registers on raw ioctls. The b.N
// exits are split into portIORounds rounds; each round runs the C loop and
// gonest's loop for the same number of exits, one after the other (which
// goes first alternates), so both see the same host load, and the
// per-round ratios are summarised:
//
//	ns/op        gonest's mean cost per exit
//	c-ns/exit    the C loop's mean cost per exit
//	go/c         the median of the per-round ratios (goal: at most 1.15)
//	go/c-min     the lowest per-round ratio
//	go/c-max     the highest per-round ratio
//
// On a shared host exit costs swing by 2x from one second to the next;
// the median of interleaved rounds is what holds still.
//
//	go test ./vcpu -run '^$' -bench PortIOExit -benchtime 140000x
func BenchmarkPortIOExit(b *testing.B) {
	const nullPort, donePort = 0x80, 0x81
	g := newGuestEnv(b, userOutLoopGuest, modeUser)
	regs, err := g.kv.GetRegs()
	require.NoError(b, err)
	regs.RDX = nullPort
	sregs, err := g.kv.GetSregs()
	require.NoError(b, err)

	// Snapshot the initial machine for the C program before Go runs it.
	cProg := buildCBench(b)
	dir := b.TempDir()
	image, err := g.mem.Slice(0, guestRAM)
	require.NoError(b, err)
	require.NoError(b, os.WriteFile(filepath.Join(dir, "mem.bin"), image, 0o600))
	writeStruct(b, filepath.Join(dir, "regs.bin"), regs)
	writeStruct(b, filepath.Join(dir, "sregs.bin"), sregs)

	runC := func(n int) float64 {
		out, err := exec.Command(cProg, filepath.Join(dir, "mem.bin"), filepath.Join(dir, "regs.bin"),
			filepath.Join(dir, "sregs.bin"), strconv.Itoa(n)).CombinedOutput()
		require.NoError(b, err, "C benchmark: %s", out)
		var exits int
		var ns float64
		_, err = fmt.Sscanf(strings.TrimSpace(string(out)), "%d %g", &exits, &ns)
		require.NoError(b, err, "C benchmark output %q", out)
		require.Equal(b, n+1, exits)
		return ns
	}

	done := &doneDevice{}
	require.NoError(b, g.pio.Insert(nullDevice{}, nullPort, 1))
	require.NoError(b, g.pio.Insert(done, donePort, 1))
	runGo := func(n int) time.Duration {
		r := regs
		r.RCX = uint64(n)
		require.NoError(b, g.kv.SetRegs(r))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done.cancel = cancel
		before := g.v.Stats().Exits(kvm.ExitIO)
		start := time.Now()
		_, err := g.v.Run(ctx)
		elapsed := time.Since(start)
		require.NoError(b, err)
		require.Equal(b, uint64(n+1), g.v.Stats().Exits(kvm.ExitIO)-before, "one exit per OUT plus the done write")
		return elapsed
	}

	perRound := max(b.N/portIORounds, 1)
	var ratios []float64
	var goTotal time.Duration
	var cTotal float64
	b.ReportAllocs()
	b.ResetTimer()
	for round := 0; round < portIORounds; round++ {
		// Alternate which loop goes first, so that neither always runs
		// in the other's wake (caches, the host's frequency and load).
		var cNs, goNs float64
		if round%2 == 0 {
			b.StopTimer()
			cNs = runC(perRound)
			b.StartTimer()
			goNs = float64(runGo(perRound).Nanoseconds()) / float64(perRound)
		} else {
			goNs = float64(runGo(perRound).Nanoseconds()) / float64(perRound)
			b.StopTimer()
			cNs = runC(perRound)
			b.StartTimer()
		}
		ratios = append(ratios, goNs/cNs)
		goTotal += time.Duration(goNs * float64(perRound))
		cTotal += cNs
	}
	b.StopTimer()
	sort.Float64s(ratios)
	b.ReportMetric(float64(goTotal.Nanoseconds())/float64(perRound*portIORounds), "ns/op")
	b.ReportMetric(cTotal/portIORounds, "c-ns/exit")
	b.ReportMetric(ratios[len(ratios)/2], "go/c")
	b.ReportMetric(ratios[0], "go/c-min")
	b.ReportMetric(ratios[len(ratios)-1], "go/c-max")
}

// portIORounds is how many interleaved C/gonest rounds BenchmarkPortIOExit
// runs (odd, so the median is one round's ratio).
const portIORounds = 7

func writeStruct(tb testing.TB, path string, v any) {
	tb.Helper()
	var buf bytes.Buffer
	require.NoError(tb, binary.Write(&buf, binary.LittleEndian, v))
	require.NoError(tb, os.WriteFile(path, buf.Bytes(), 0o600))
}

// buildCBench compiles cBenchSource once per benchmark run.
func buildCBench(tb testing.TB) string {
	tb.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		tb.Skipf("skipping the C comparison: gcc not found (%v); install gcc to get the go/c ratio", err)
	}
	dir := tb.TempDir()
	src := filepath.Join(dir, "portio.c")
	bin := filepath.Join(dir, "portio")
	require.NoError(tb, os.WriteFile(src, []byte(cBenchSource), 0o600))
	out, err := exec.Command(gcc, "-O2", "-Wall", "-Werror", "-o", bin, src).CombinedOutput()
	require.NoError(tb, err, "gcc: %s", out)
	return bin
}

// cBenchSource is the raw-ioctl twin of the Go benchmark: same VM, same
// guest image and registers (read from files the benchmark writes), one
// KVM_RUN per OUT, and a null device that consumes the byte.
const cBenchSource = `
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE 0x10000
#define DONE_PORT 0x81

static void die(const char *what) { perror(what); exit(1); }

static void load(const char *path, void *buf, size_t n) {
	FILE *f = fopen(path, "rb");
	if (!f || fread(buf, 1, n, f) != n) die(path);
	fclose(f);
}

int main(int argc, char **argv) {
	if (argc != 5) { fprintf(stderr, "usage: portio mem regs sregs n\n"); return 2; }
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) die("open /dev/kvm");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) die("KVM_CREATE_VM");
	void *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED) die("mmap guest memory");
	load(argv[1], mem, MEM_SIZE);
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE, .userspace_addr = (uint64_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0) die("KVM_CREATE_VCPU");
	int size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < 0) die("KVM_GET_VCPU_MMAP_SIZE");
	struct kvm_run *run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED) die("mmap kvm_run");
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	load(argv[2], &regs, sizeof regs);
	load(argv[3], &sregs, sizeof sregs);
	regs.rcx = strtoull(argv[4], NULL, 10);
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");

	volatile uint64_t sink = 0;
	long exits = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) die("KVM_RUN");
		if (run->exit_reason != KVM_EXIT_IO) { fprintf(stderr, "unexpected exit %u\n", run->exit_reason); return 1; }
		exits++;
		if (run->io.port == DONE_PORT) break;
		sink += *((uint8_t *)run + run->io.data_offset); /* the null device */
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
	printf("%ld %.3f\n", exits, ns / (double)(exits - 1));
	return 0;
}
`

// BenchmarkDecodeDispatch measures gonest's own userspace work per port
// I/O exit, without KVM: decoding kvm_run and dispatching the OUT through
// the bus to a null device. It bounds what the run loop adds to the raw
// KVM_RUN round trip.
func BenchmarkDecodeDispatch(b *testing.B) {
	page := make([]byte, 3*4096)
	run, err := kvm.NewRun(page)
	require.NoError(b, err)
	run.SetExitReason(kvm.ExitIO)
	*run.IO() = kvm.RunIO{Direction: kvm.IODirectionOut, Size: 1, Port: 0x80, Count: 1, DataOffset: 4096}
	pio := devices.NewBus("pio")
	require.NoError(b, pio.Insert(nullDevice{}, 0x80, 1))
	h := vcpu.Handler{PIO: pio, Stats: new(vcpu.Stats)}
	var d vcpu.Decoder
	b.ReportAllocs()
	for b.Loop() {
		e, err := d.Decode(run)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := h.Dispatch(e); err != nil {
			b.Fatal(err)
		}
	}
}
