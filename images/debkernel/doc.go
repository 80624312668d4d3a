// Package debkernel picks a Debian kernel image package by version and
// flavour from the package names apt knows.
//
// Debian names its unsigned kernel images
// linux-image-<version>-[<flavour>-]amd64-unsigned: "6.1.0-57" or
// "6.12.118+deb12" for the version, nothing for the default flavour, and
// "cloud" or "rt" for the others. The default flavour has KVM, virtio and
// ext4 as modules and has /dev/port; cloud builds ext4 in and has no
// /dev/port (CONFIG_DEVPORT unset), and from 6.12 on virtio_pci is built
// in and modules ship as .ko.xz.
//
// A meta package (linux-image-amd64, linux-image-cloud-amd64) depends on
// the current kernel of one series, but no meta package that apt resolves
// points at every series, so the images pipeline selects by version
// instead: Select("6.12", "cloud") is the newest
// linux-image-6.12.*-cloud-amd64-unsigned. A version or flavour that
// matches nothing is an error listing what exists, for one line of
// output.
package debkernel
