// Package kmod finds which kernel modules a guest needs and the order to load
// them in, the way depmod and modprobe do, without either tool.
//
// Debian's kernel package ships its modules without a modules.dep (depmod
// writes it at install time), so the images pipeline reads each module's
// .modinfo section instead: modpost records there the modules it depends on
// ("depends=kvm,ccp"), its soft dependencies ("softdep=pre: crypto-crc32c")
// and the aliases it answers to ("alias=crypto-crc32c"). ScanTree builds an
// Index from an unpacked lib/modules/<release> tree; Index.Closure resolves a
// wanted list ("kvm_amd", "virtio_blk") into every module needed, each after
// its dependencies.
//
// Kernels differ in how they ship modules, and the Index takes each as it
// comes: module files may be compressed (.ko.xz in Debian's 6.12, .ko.zst,
// .ko.gz; ScanTree reads them through an Opener, package modfile's, and
// the tree written for the guest holds them uncompressed), and modules the
// kernel has built in are listed in modules.builtin and
// modules.builtin.modinfo (ext4 in the cloud flavour, virtio_pci from 6.12
// on). A wanted name or a dependency that is built in needs no module and
// Closure leaves it out; CheckWanted names the config option
// (CONFIG_KVM_AMD, from the kernel's .config) of a wanted module that is
// neither.
//
// The pipeline then writes the chosen modules with a modules.dep and a
// modules.softdep in depmod's own formats (WriteDep, WriteSoftdep). Inside the
// guest, cmd/gonest-init reads those two files back (ReadDep, ReadSoftdep)
// into the same Index and asks Closure again for the load order, so build
// time and boot time share one resolver. u-root's shell tools and a real
// modprobe can read the same files.
package kmod
