# The images pipeline: every guest artifact the lab and `make run` boot.
# Included by the top-level Makefile. Outputs go to images/out/ (ignored by
# git). Steps that are FORCEd run every time but rewrite their output only
# when its bytes change, so make's timestamps are a content cache: a second
# `make images` downloads nothing and rebuilds nothing.
#
#   images/out/vmlinuz      Debian's bzImage (or KERNEL=path), booted at every level
#   images/out/vmlinux      its uncompressed ELF, for the PVH boot path
#   images/out/g2.cpio.gz   G2: gonest-init as /init, nothing else
#   images/out/g1.cpio.gz   G1: u-root tools, gonest-init, modules, gonest, tests
#   images/out/h.cpio.gz    H:  the same as G1
#   images/out/g1-next.ext4 G2's kernel+initrd, the disk H's gonest gives G1 (label gonest-next)
#   images/out/h-next.ext4  G1's kernel (bzImage and vmlinux)+initrd and g1-next.ext4, the disk the lab gives H
#   images/out/disk.ext4    ext4 image of images/disk/ + known files for virtio-blk scenarios
#   images/out/h-next.cpio  the Intel lab's H-next: G1's kernel, initrd and g1-next.ext4 as a second initrd

IMG_OUT   := images/out
IMG_BUILD := $(IMG_OUT)/build
IMG_TOOLS := $(IMG_OUT)/tools
MKIMAGE   := $(IMG_TOOLS)/mkimage
BUILD_SH  := images/build.sh

# Pinned tool versions (from the Go module proxy).
UROOT_VERSION ?= v0.16.0

# KERNEL=path uses your bzImage instead of Debian's; KERNEL_MODULES=dir
# (a lib/modules/<release> tree with uncompressed .ko files) its modules.
# KERNEL_META names the Debian package that depends on the current kernel.
KERNEL ?=
KERNEL_MODULES ?=
KERNEL_META ?= linux-image-amd64
export KERNEL KERNEL_MODULES KERNEL_META

# Modules packed into H and G1; their dependencies are resolved from the
# modules' own .modinfo, not listed here. gonest-init loads kvm_amd or
# kvm_intel (by CPU), virtio and ext4.
GUEST_MODULES ?= kvm_amd kvm_intel virtio_pci virtio_blk ext4

# Packages whose tests run inside the lab (scenario kvmtests), as
# `go test -c` binaries. Packages without tests yet are skipped.
LAB_TEST_PKGS ?= ./kvm ./vcpu ./machine

# gonest goes into H and G1 once cmd/gonest exists.
GONEST_PKG := $(if $(wildcard cmd/gonest/*.go),./cmd/gonest)
GONEST_BIN := $(if $(GONEST_PKG),$(IMG_BUILD)/gonest)

.PHONY: images host-tools intel-images intel-tools images-clean FORCE
FORCE:

images: $(IMG_OUT)/h.cpio.gz $(IMG_OUT)/g1.cpio.gz $(IMG_OUT)/g2.cpio.gz $(IMG_OUT)/disk.ext4 $(IMG_OUT)/vmlinuz \
	$(IMG_OUT)/h-next.ext4 $(IMG_OUT)/g1-next.ext4

host-tools:
	@$(BUILD_SH) host-tools

$(MKIMAGE): FORCE
	@$(BUILD_SH) gobin $@ ./images/cmd/mkimage

$(IMG_BUILD)/gonest-init: FORCE
	@$(BUILD_SH) gobin $@ ./cmd/gonest-init

$(IMG_BUILD)/gonest: FORCE
	@$(BUILD_SH) gobin $@ $(GONEST_PKG)

# One stamp for the directory of test binaries, rewritten only when the
# set of binaries or one of them changed.
$(IMG_BUILD)/tests.stamp: FORCE
	@$(BUILD_SH) gotests $(IMG_BUILD)/tests $@ $(LAB_TEST_PKGS)

$(IMG_OUT)/kernel.stamp: $(MKIMAGE) FORCE | host-tools
	@$(BUILD_SH) kernel $(IMG_OUT) $(MKIMAGE) $(GUEST_MODULES)

$(IMG_OUT)/vmlinuz: $(IMG_OUT)/kernel.stamp
	@test -f $@

$(IMG_BUILD)/uroot-$(UROOT_VERSION).cpio:
	@$(BUILD_SH) uroot $@ $(IMG_TOOLS) $(UROOT_VERSION)

# Common contents of H and G1: u-root's tools, our init, modules, gonest
# and the test binaries.
LEVEL_DEPS = $(MKIMAGE) $(IMG_BUILD)/uroot-$(UROOT_VERSION).cpio $(IMG_BUILD)/gonest-init \
	$(IMG_OUT)/kernel.stamp $(IMG_BUILD)/tests.stamp $(GONEST_BIN)
LEVEL_ARGS = -base $(IMG_BUILD)/uroot-$(UROOT_VERSION).cpio \
	-file $(IMG_BUILD)/gonest-init:/init \
	-symlink /bin/sh:/bbin/gosh \
	-symlink /bin/l2:/init \
	-tree $(IMG_OUT)/modules:/lib/modules \
	-tree $(IMG_BUILD)/tests:/lab/tests \
	$(if $(GONEST_BIN),-file $(GONEST_BIN):/bin/gonest)

# mkimage rewrites an initramfs only when its bytes change; the touch
# records that it is up to date with its newer inputs anyway.
$(IMG_OUT)/g2.cpio.gz: $(MKIMAGE) $(IMG_BUILD)/gonest-init
	@$(MKIMAGE) initramfs -o $@ -file $(IMG_BUILD)/gonest-init:/init
	@touch $@

$(IMG_OUT)/g1.cpio.gz: $(LEVEL_DEPS)
	@$(MKIMAGE) initramfs -o $@ $(LEVEL_ARGS)
	@touch $@

# H carries what G1 carries; what differs is the next-level disk each gets.
# (A copy then a rename: a lab run booting the old file meanwhile keeps it.)
$(IMG_OUT)/h.cpio.gz: $(IMG_OUT)/g1.cpio.gz
	@cp -f $< $@.new && mv -f $@.new $@

# The next level's images travel on a disk, not inside the initramfs:
# gonest-init mounts the virtio-blk disk labelled gonest-next read-only at
# /images/next (guestabi.NextDir) and boots vmlinuz and initrd from it,
# passing next.ext4, when there, to the next level with -disk ...,ro.
$(IMG_OUT)/g1-next.ext4: $(IMG_OUT)/kernel.stamp $(IMG_OUT)/g2.cpio.gz | host-tools
	@$(BUILD_SH) nextdisk $@ gonest-next $(IMG_OUT)/vmlinuz:vmlinuz $(IMG_OUT)/g2.cpio.gz:initrd

$(IMG_OUT)/h-next.ext4: $(IMG_OUT)/kernel.stamp $(IMG_OUT)/g1.cpio.gz $(IMG_OUT)/g1-next.ext4 | host-tools
	@$(BUILD_SH) nextdisk $@ gonest-next $(IMG_OUT)/vmlinuz:vmlinuz $(IMG_OUT)/vmlinux:vmlinux? $(IMG_OUT)/g1.cpio.gz:initrd $(IMG_OUT)/g1-next.ext4:next.ext4

# The Intel lab boots H under Bochs from a CD, and Bochs has no virtio:
# H's next-level images travel as ISOLINUX's second initrd instead of a
# disk. h-next.cpio is a plain newc archive (its files are compressed
# already) of what h-next.ext4 holds but vmlinux; the kernel unpacks it at
# /images/next (guestabi.NextDir), where gonest-init finds the kernel
# before it looks for a disk.
intel-images: images $(IMG_OUT)/h-next.cpio | intel-tools

intel-tools:
	@$(BUILD_SH) bochs-tools

$(IMG_OUT)/h-next.cpio: $(MKIMAGE) $(IMG_OUT)/kernel.stamp $(IMG_OUT)/g1.cpio.gz $(IMG_OUT)/g1-next.ext4
	@$(MKIMAGE) initramfs -o $@ -compress none -file $(IMG_OUT)/vmlinuz:/images/next/vmlinuz \
		-file $(IMG_OUT)/g1.cpio.gz:/images/next/initrd -file $(IMG_OUT)/g1-next.ext4:/images/next/next.ext4
	@touch $@

# The test disk: images/disk/ plus known/ (files of mixed sizes and their
# SHA256SUMS, from internal/diskfiles), with room for the 200 files G1
# writes in the virtio-blk lab tests. mke2fs -d needs no root; the image
# is sparse.
DISK_SIZE ?= 64M
$(IMG_OUT)/disk.ext4: $(MKIMAGE) $(wildcard images/disk/*) | host-tools
	@rm -rf $@.new $(IMG_BUILD)/disk && mkdir -p $(IMG_BUILD)/disk
	@cp -R images/disk/. $(IMG_BUILD)/disk/
	@$(MKIMAGE) diskfiles -o $(IMG_BUILD)/disk
	@mke2fs -q -t ext4 -b 4096 -L gonest -E root_owner=0:0 -d $(IMG_BUILD)/disk $@.new $(DISK_SIZE) >/dev/null
	@mv -f $@.new $@
	@echo "images: disk $@ from images/disk/ and known/"

images-clean:
	rm -rf $(IMG_OUT)/build $(IMG_OUT)/*.gz $(IMG_OUT)/*.ext4 $(IMG_OUT)/*.cpio $(IMG_OUT)/kernel.stamp
