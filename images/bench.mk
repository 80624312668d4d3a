# Bench-only images, built by `make bench-images` (and the bench targets),
# never by `make images`: make test boots h.cpio.gz without them.
#
#   images/out/h-bench.cpio.gz  h.cpio.gz + QEMU (binary, libraries, microvm firmware) and
#                               gonest-init with the benchmark scenarios (-tags gonest_bench),
#                               for benchmarks that compare gonest with QEMU inside the same H

QEMU_BIN ?= /usr/bin/qemu-system-x86_64

.PHONY: bench-images
bench-images: images $(IMG_OUT)/h-bench.cpio.gz

# The benchmarks live in H's init of the bench image only.
$(IMG_BUILD)/gonest-init-bench: FORCE
	@GOFLAGS=-tags=gonest_bench $(BUILD_SH) gobin $@ ./cmd/gonest-init

$(IMG_BUILD)/qemu-overlay.cpio.gz: $(MKIMAGE) images/bench.sh $(IMG_BUILD)/gonest-init-bench | host-tools
	@images/bench.sh qemu-overlay $@ $(MKIMAGE) $(QEMU_BIN) $(IMG_BUILD)/gonest-init-bench

# Linux unpacks concatenated compressed archives one after the other.
$(IMG_OUT)/h-bench.cpio.gz: $(IMG_OUT)/h.cpio.gz $(IMG_BUILD)/qemu-overlay.cpio.gz
	@cat $^ >$@.new && mv -f $@.new $@
	@echo "images: $@ (h.cpio.gz + QEMU overlay)"
