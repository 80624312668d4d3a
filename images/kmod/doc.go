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
// The pipeline then writes the chosen modules with a modules.dep and a
// modules.softdep in depmod's own formats (WriteDep, WriteSoftdep). Inside the
// guest, cmd/gonest-init reads those two files back (ReadDep, ReadSoftdep)
// into the same Index and asks Closure again for the load order, so build
// time and boot time share one resolver. u-root's shell tools and a real
// modprobe can read the same files.
package kmod
