// Package hostinfo reads what the host says about itself: which KVM module
// backs /dev/kvm, its nested and EPT/NPT parameters, how much memory the
// host has, and whether the host is itself a virtual machine.
//
// Everything is read through an fs.FS rooted at "/", so tests describe a
// host as a fstest.MapFS ("sys/module/kvm_amd/parameters/nested": "1").
package hostinfo
