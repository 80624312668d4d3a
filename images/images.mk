# The images pipeline: every guest artifact the lab and `make run` boot.
# Included by the top-level Makefile. Outputs go to IMG_OUT (default
# images/out/, ignored by git); image sets for other kernels can be built
# side by side (make images IMG_OUT=images/out-6.12-cloud KERNEL_VERSION=6.12
# KERNEL_FLAVOUR=cloud) and share the kernel .deb cache. Steps that are
# FORCEd run every time but rewrite their output only when its bytes
# change, so make's timestamps are a content cache: a second `make images`
# downloads nothing and rebuilds nothing.
#
#   IMG_OUT/vmlinuz        Debian's bzImage (or KERNEL=path), booted at every level
#   IMG_OUT/vmlinux        its uncompressed ELF, for the PVH boot path
#   IMG_OUT/kernel.release the kernel release (uname -r) the set was built for
#   IMG_OUT/g2.cpio.gz     G2: gonest-init as /init, nothing else
#   IMG_OUT/g2-disk.cpio.gz G2 that reads disks: gonest-init and the disk drivers (G2_MODULES)
#   IMG_OUT/g1.cpio.gz     G1: u-root tools, gonest-init, modules, gonest, tests
#   IMG_OUT/h.cpio.gz      H:  the same as G1
#   IMG_OUT/g1-next.ext4   G2's kernel+initrds and Debian's QEMU, the disk H's gonest gives G1 (label gonest-next)
#   IMG_OUT/h-next.ext4    G1's kernel (bzImage and vmlinux)+initrd and g1-next.ext4, the disk the lab gives H
#   IMG_OUT/disk.ext4      ext4 image of images/disk/ + known files for virtio-blk scenarios
#   IMG_OUT/h-next.cpio    the Intel lab's H-next: G1's kernel, initrd and g1-next.ext4 as a second initrd

IMG_OUT   ?= images/out
# The kernel-independent parts (u-root, gonest-init, gonest, the test
# binaries, the tools). Image sets built one after another may share them:
# make images IMG_OUT=images/out-6.12 IMG_BUILD=images/out/build IMG_TOOLS=images/out/tools
IMG_BUILD ?= $(IMG_OUT)/build
IMG_TOOLS ?= $(IMG_OUT)/tools
MKIMAGE   := $(IMG_TOOLS)/mkimage
BUILD_SH  := images/build.sh

# Pinned tool versions (from the Go module proxy).
UROOT_VERSION ?= v0.16.0

# Which kernel: by default the one Debian's meta package KERNEL_META
# (linux-image-amd64) depends on. KERNEL_VERSION=6.12 picks the newest
# linux-image-6.12.*-amd64-unsigned apt knows (6.1, 6.1.0-57 work too), and
# KERNEL_FLAVOUR=cloud (or rt) the same in that flavour; a flavour alone
# follows its meta package (linux-image-cloud-amd64). KERNEL_CACHE holds the
# downloaded .deb files, shared by every IMG_OUT.
# KERNEL=path uses your bzImage instead; KERNEL_MODULES=dir (a
# lib/modules/<release> tree, modules plain or .ko.xz/.ko.zst) its modules.
KERNEL ?=
KERNEL_MODULES ?=
KERNEL_META ?=
KERNEL_VERSION ?=
KERNEL_FLAVOUR ?=
KERNEL_CACHE ?= images/out/cache
export KERNEL KERNEL_MODULES KERNEL_META KERNEL_VERSION KERNEL_FLAVOUR KERNEL_CACHE

# What H and G1 need from the kernel, as module names: packed into the
# images with their dependencies (from the modules' own .modinfo), stored
# uncompressed. What the kernel has built in is skipped (the build log says
# so); a name that is neither stops the build with the missing config
# option. gonest-init loads kvm_amd or kvm_intel (by CPU), virtio and ext4; the IDE
# scenarios load ata_piix and sd_mod (gonest's IDE controller) themselves.
# gonest exec inside a level builds its guest's initramfs from the level's
# /lib/modules: virtio_console, virtiofs (with fuse) and overlay. virtiofs
# also mounts the lab's shares in H (lab.Share: the Go toolchain for the
# exec lab test, go test -exec), so every flavour runs that test. 9p and
# 9pnet_virtio serve only gonest exec's 9p root under QEMU, which its
# benchmark compares with virtio-fs. A name ending in ? is taken only when
# the kernel has it: Debian's cloud kernels have no 9p.
GUEST_MODULES ?= kvm_amd kvm_intel virtio_pci virtio_blk ext4 ata_piix sd_mod virtio_console virtiofs overlay 9p? 9pnet_virtio?
# The disk drivers of G2's disk image (g2-disk.cpio.gz), taken from the
# modules above: no KVM, so that G2 boots without loading it.
G2_MODULES ?= virtio_pci virtio_blk ext4 ata_piix sd_mod

# Debian's QEMU (the host's, installed by host-tools) goes on G1's
# next-level disk for l2-qemu, where G1 runs it as G2's VMM.
QEMU_BIN ?= /usr/bin/qemu-system-x86_64

# Packages whose tests run inside the lab (scenario kvmtests), as
# `go test -c` binaries. Packages without tests yet are skipped.
LAB_TEST_PKGS ?= ./kvm ./vcpu ./machine

# gonest goes into H and G1 once cmd/gonest exists.
GONEST_PKG := $(if $(wildcard cmd/gonest/*.go),./cmd/gonest)
GONEST_BIN := $(if $(GONEST_PKG),$(IMG_BUILD)/gonest)

.PHONY: images host-tools intel-images intel-tools images-clean FORCE
FORCE:

images: $(IMG_OUT)/h.cpio.gz $(IMG_OUT)/g1.cpio.gz $(IMG_OUT)/g2.cpio.gz $(IMG_OUT)/g2-disk.cpio.gz \
	$(IMG_OUT)/disk.ext4 $(IMG_OUT)/vmlinuz $(IMG_OUT)/h-next.ext4 $(IMG_OUT)/g1-next.ext4

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

# G2 with disk drivers (l2-disk, l2-many): the same init, and G2_MODULES,
# which its init loads at boot (virtio_pci, virtio_blk, ext4) or its
# scenario asks for (ata_piix, sd_mod). Other G2s boot the lighter g2.cpio.gz.
$(IMG_OUT)/g2-disk.cpio.gz: $(MKIMAGE) $(IMG_BUILD)/gonest-init $(IMG_OUT)/kernel.stamp
	@$(BUILD_SH) modtree $(IMG_BUILD)/modules-g2 $(MKIMAGE) $(IMG_OUT)/modules $(G2_MODULES)
	@$(MKIMAGE) initramfs -o $@ -file $(IMG_BUILD)/gonest-init:/init -tree $(IMG_BUILD)/modules-g2:/lib/modules
	@touch $@

# QEMU laid out as on its own root, replaced only when a file changes.
$(IMG_BUILD)/qemu: FORCE | host-tools
	@images/bench.sh qemu-tree $@ $(QEMU_BIN)

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
$(IMG_OUT)/g1-next.ext4: $(IMG_OUT)/kernel.stamp $(IMG_OUT)/g2.cpio.gz $(IMG_OUT)/g2-disk.cpio.gz $(IMG_BUILD)/qemu | host-tools
	@$(BUILD_SH) nextdisk $@ gonest-next $(IMG_OUT)/vmlinuz:vmlinuz $(IMG_OUT)/g2.cpio.gz:initrd \
		$(IMG_OUT)/g2-disk.cpio.gz:initrd-disk $(IMG_BUILD)/qemu:qemu

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
	rm -rf $(IMG_OUT)/build $(IMG_OUT)/*.gz $(IMG_OUT)/*.ext4 $(IMG_OUT)/*.cpio $(IMG_OUT)/kernel.stamp $(IMG_OUT)/kernel.release
