# gonest: the two commands a fresh machine needs are `make run` and `make test`.
#
#   make build         bin/gonest
#   make vet           go vet (the bench-image init too) and gofmt
#   make staticcheck   staticcheck, pinned
#   make unit          the unit and tiny-guest tests, race detector on (no lab)
#   make host-tools    install what the builds need (apt-get, as root)
#   make images        guest kernel, initramfs images and disks (images/images.mk)
#   make images-clean  remove the built images (the kernel .deb cache stays)
#   make lab           boot the lab host H under QEMU with SCENARIO (default kvmtests), console streamed;
#                      VENDOR=intel boots H under Bochs instead (VMX, kvm_intel)
#   make lab-test      the real-kernel boot tests and the lab tests against the built images
#   make test          vet + staticcheck + unit + images + lab-test (the AMD lab)
#   make test-intel    the Intel lab's tests (H under Bochs): kvmtests, doctor, l2-tiny (CI runs it after make test)
#   make test-kernels  the lab on every kernel of TEST_KERNELS, one table (CI runs it after make test-intel)
#   make fuzz          every go test -fuzz target for FUZZTIME each (default 60s)
#   make run           the nested demo: G1 with a shell (type l2 for G2) here if this KVM can nest, else in the lab
#   make bench-images  images/out/h-bench.cpio.gz: H with QEMU and the benchmark scenarios (images/bench.mk)
#   make bench-boot    lab G1 boot, gonest against QEMU microvm, BENCH_RUNS pairs (default 7)
#   make bench-nested  lab G2 launch (G1 init → G2 verdict), gonest against QEMU microvm as G1's VMM
#   make bench-blk     lab virtio-blk sequential read in G1, gonest's against QEMU's
#   make bench-disk    lab disk bus in G2: IDE against virtio-blk, exits per MiB at G1 and H (BENCH_RUNS reads, at least 5), its section of bench/results.md
#   make bench-anatomy lab exit multiplication: each exit loop as G2 and as H's own guest, ANATOMY_RUNS runs (default 5), into bench/results.md
#   make bench-exec    lab gonest exec against QEMU microvm with 9p: /bin/true, find+stat of a tree, a sequential read, its section of bench/results.md
#   make bench         all of the above and the port-I/O exit cost against C: bench/results.md
SHELL := /bin/bash
GO ?= go
export CGO_ENABLED ?= 0

.PHONY: all build test unit vet staticcheck fuzz lab lab-test test-intel run bench bench-boot bench-nested bench-blk bench-disk bench-anatomy bench-exec test-kernels
all: build

build:
	$(GO) build -o bin/gonest ./cmd/gonest

# go vet, and gofmt: a file gofmt would change fails the build.
vet:
	$(GO) vet ./...
	$(GO) vet -tags gonest_bench ./cmd/gonest-init
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './images/out/*')); \
		if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted (run: gofmt -w $$unformatted)" >&2; exit 1; fi

# Unit and tiny-guest tests, all under the race detector (it needs cgo, so
# gcc, which host-tools installs when missing).
unit: host-tools
	CGO_ENABLED=1 $(GO) test -count=1 -race ./...

STATICCHECK_VERSION ?= v0.8.2
staticcheck:
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

FUZZTIME ?= 60s
fuzz:
	FUZZTIME=$(FUZZTIME) tools/fuzz.sh

include images/images.mk
include images/bench.mk

# make lab SCENARIO=shell gives an interactive shell in H (exit it to stop).
# VENDOR=intel runs H under Bochs, whose CPU emulates VMX, instead of QEMU
# (SVM); Bochs emulates every instruction, so it gets a longer time limit.
SCENARIO ?= kvmtests
VENDOR ?= amd
LAB_TIMEOUT ?= $(if $(filter intel,$(VENDOR)),60m,10m)
LAB_ARGS ?=
lab: images $(if $(filter intel,$(VENDOR)),intel-images)
	$(GO) run ./lab/cmd/gonest-lab -vendor $(VENDOR) -images $(IMG_OUT) -scenario $(SCENARIO) -timeout $(LAB_TIMEOUT) $(LAB_ARGS)

# The lab tests fail, rather than skip, when the images are missing.
LAB_TEST_RUN ?= TestLab
lab-test: images
	GONEST_BZIMAGE=$(abspath $(IMG_OUT))/vmlinuz GONEST_VMLINUX=$(abspath $(IMG_OUT))/vmlinux GONEST_REQUIRE_LAB=1 \
		$(GO) test -count=1 -v -run '^TestReal' ./boot
	GONEST_IMAGES=$(abspath $(IMG_OUT)) GONEST_REQUIRE_LAB=1 \
		$(GO) test -count=1 -v -timeout 40m -run '$(LAB_TEST_RUN)' ./lab

# The Intel lab's tests: H under Bochs, kvm_intel in H (lab/intel_test.go).
# About 20 minutes of Bochs, so not part of make test (which stays under
# 40 minutes with the AMD lab); CI runs it after make test (.ci/run).
INTEL_TEST_RUN ?= TestIntelLab
test-intel: intel-images
	GONEST_IMAGES=$(abspath $(IMG_OUT)) GONEST_REQUIRE_LAB=1 \
		$(GO) test -count=1 -v -timeout 150m -run '$(INTEL_TEST_RUN)' ./lab

# gonest doctor picks where the demo runs; tools/run-demo.sh says how.
run: build images
	@IMG_OUT=$(IMG_OUT) GO=$(GO) tools/run-demo.sh

# One table row: gonest vs QEMU microvm booting G1 inside the same H.
BENCH_RUNS ?= 7
bench-boot: bench-images
	@$(GO) run ./lab/cmd/gonest-bench -images $(IMG_OUT) -scenario bench-boot -append gonest.bench.runs=$(BENCH_RUNS)

# One table row: G1 init → G2 verdict, G1 under gonest and under QEMU
# microvm in the same H, G2 launched by gonest in G1 both times.
bench-nested: bench-images
	@$(GO) run ./lab/cmd/gonest-bench -images $(IMG_OUT) -scenario bench-nested -append gonest.bench.runs=$(BENCH_RUNS)

bench-blk: bench-images
	@$(GO) run ./lab/cmd/gonest-bench -images $(IMG_OUT) -scenario bench-blk -append gonest.bench.runs=$(BENCH_RUNS)

# The disk-bus table: l2-disk's reads, BENCH_RUNS of each bus in one G2,
# written to its section of bench/results.md.
bench-disk: bench-images
	BENCH_RUNS=$(BENCH_RUNS) IMAGES=$(IMG_OUT) tools/bench.sh disk

# Who handles each exit of G2 and what it costs each level: one row per
# workload, medians of ANATOMY_RUNS runs (scenario anatomy), written to
# bench/results.md's last section.
ANATOMY_RUNS ?= 5
bench-anatomy: bench-images
	ANATOMY_RUNS=$(ANATOMY_RUNS) IMAGES=$(IMG_OUT) tools/bench.sh anatomy

# gonest exec against QEMU microvm sharing H's root over 9p, as lmb/vimto
# and virtme-ng do: EXEC_BENCH_RUNS pairs (default 3), find+stat over a
# tree of EXEC_BENCH_FILES files (default 2000), a read of EXEC_BENCH_MIB
# MiB (default 64), sized so that three pairs stay within half an hour of
# the lab under load (docs/lab.md); written to its section of
# bench/results.md.
EXEC_BENCH_RUNS ?= 3
EXEC_BENCH_FILES ?= 2000
EXEC_BENCH_MIB ?= 64
EXEC_BENCH_ENV = EXEC_BENCH_RUNS=$(EXEC_BENCH_RUNS) EXEC_BENCH_FILES=$(EXEC_BENCH_FILES) EXEC_BENCH_MIB=$(EXEC_BENCH_MIB)
bench-exec: bench-images
	$(EXEC_BENCH_ENV) IMAGES=$(IMG_OUT) tools/bench.sh exec

# Everything above in one go, one table: bench/results.md.
bench: bench-images
	BENCH_RUNS=$(BENCH_RUNS) ANATOMY_RUNS=$(ANATOMY_RUNS) $(EXEC_BENCH_ENV) IMAGES=$(IMG_OUT) tools/bench.sh

test: vet staticcheck unit lab-test

# The kernel matrix (tools/kernel-matrix.sh): for each Debian kernel, as
# version:flavour, its own image set (images/out-<version>-<flavour>), then
# kvmtests, linux and l2-tiny in the AMD lab and l2-tiny in the Intel lab
# (LABS=amd leaves it out), one at a time; one table of kernel, flavour,
# lab, scenario, verdict and wall time.
TEST_KERNELS ?= 6.1:default 6.1:cloud 6.12:default 6.12:cloud
test-kernels: host-tools
	@KERNELS="$(TEST_KERNELS)" GO=$(GO) tools/kernel-matrix.sh
