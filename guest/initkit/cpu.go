package initkit

import (
	"bufio"
	"io"
	"os"
	"strings"
)

// CPUFlags returns the "flags" of the first processor in a /proc/cpuinfo.
func CPUFlags(r io.Reader) map[string]bool {
	flags := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(key) == "flags" {
			for _, f := range strings.Fields(value) {
				flags[f] = true
			}
			return flags
		}
	}
	return flags
}

// CPUInfo returns the CPU vendor ("AuthenticAMD") and flags of the first
// processor in /proc/cpuinfo; empty when it cannot be read.
func CPUInfo() (string, map[string]bool) {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "", map[string]bool{}
	}
	return CPUVendor(string(data)), CPUFlags(strings.NewReader(string(data)))
}

// CPUVendor returns the first "vendor_id" of a /proc/cpuinfo text.
func CPUVendor(cpuinfo string) string {
	for _, line := range strings.Split(cpuinfo, "\n") {
		key, value, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(key) == "vendor_id" {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

// KVMModule is the KVM module for a CPU vendor: kvm_amd for AMD and
// Hygon, kvm_intel otherwise.
func KVMModule(vendor string) string {
	if vendor == "AuthenticAMD" || vendor == "HygonGenuine" {
		return "kvm_amd"
	}
	return "kvm_intel"
}
