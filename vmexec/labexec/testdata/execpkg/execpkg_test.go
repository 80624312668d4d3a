// Package execpkg is a user's package whose tests run in a VM through
// go test -exec 'gonest exec --': they read a file of the host outside
// the package, write one into the package directory (the lab checks it on
// the host afterwards), and fail on purpose when EXECPKG_FAIL=1.
package execpkg

import (
	"os"
	"strings"
	"testing"
)

func TestReadsHostFile(t *testing.T) {
	path := os.Getenv("EXECPKG_HOST_FILE")
	want := os.Getenv("EXECPKG_HOST_TEXT")
	if path == "" || want == "" {
		t.Fatal("EXECPKG_HOST_FILE and EXECPKG_HOST_TEXT must name a host file and its text")
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the host's file: %v", err)
	}
	if string(got) != want {
		t.Fatalf("host file %s holds %q, want %q", path, got, want)
	}
}

func TestWritesIntoWorkingDirectory(t *testing.T) {
	const name, text = "written-in-guest.txt", "written by execpkg's test inside the exec guest\n"
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatalf("write %s in the working directory: %v", name, err)
	}
	// The guest has a kernel of its own: another boot ID than the host's.
	id, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Fatal(err)
	}
	if host := os.Getenv("EXECPKG_HOST_BOOT_ID"); host == "" || strings.TrimSpace(string(id)) == host {
		t.Fatalf("boot ID %s, the host's %q: not running in a guest", id, host)
	}
}

func TestFailsOnPurpose(t *testing.T) {
	if os.Getenv("EXECPKG_FAIL") == "1" {
		t.Fatal("failing on purpose (EXECPKG_FAIL=1)")
	}
}
