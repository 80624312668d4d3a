package main

import (
	"os"
	"strings"
	"syscall"
)

// thpSetting is where Linux says when transparent huge pages are used.
const thpSetting = "/sys/kernel/mm/transparent_hugepage/enabled"

// reexecWithoutHeapTHP restarts gonest with GODEBUG=disablethp=1 when the
// host backs all anonymous memory with transparent huge pages ("[always]",
// Debian's default). Guest RAM wants huge pages, and asks for them with
// MADV_HUGEPAGE whatever this setting says; the Go heap does not: it
// touches a few KiB here and there of its 64 MiB arenas, and each touch
// makes a whole 2 MiB page resident. In the lab that was 2-3 MiB of RSS, half
// of gonest's own footprint. GODEBUG is read once, when the runtime
// starts, hence the exec: it keeps the pid, the open files and the
// terminal. When the exec fails, gonest carries on with the heap as it is.
func reexecWithoutHeapTHP() {
	if strings.Contains(os.Getenv("GODEBUG"), "disablethp=") {
		return
	}
	b, err := os.ReadFile(thpSetting)
	if err != nil || !strings.Contains(string(b), "[always]") {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	_ = syscall.Exec(exe, os.Args, withGODEBUG(os.Environ(), "disablethp=1"))
}

// withGODEBUG returns env with setting added to GODEBUG.
func withGODEBUG(env []string, setting string) []string {
	out := make([]string, 0, len(env)+1)
	found := false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			found = true
			if v != "" {
				kv = "GODEBUG=" + v + "," + setting
			} else {
				kv = "GODEBUG=" + setting
			}
		}
		out = append(out, kv)
	}
	if !found {
		out = append(out, "GODEBUG="+setting)
	}
	return out
}
