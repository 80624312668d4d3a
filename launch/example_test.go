package launch_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gonest/gonest/boot"
	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/internal/tinyelf"
	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/kvm/kvmtest"
	"github.com/gonest/gonest/launch"
)

// TestMain builds gonest for the examples and puts it first on $PATH. The
// examples boot a guest on /dev/kvm: without it they are skipped with the
// reason, or fail under GONEST_REQUIRE_KVM=1, as kvmtest does for tests.
func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "launch-example-")
	if err != nil {
		log.Fatal(err)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if reason := exampleSetup(dir); reason != "" {
			if os.Getenv(kvmtest.RequireEnv) == "1" {
				fmt.Fprintf(os.Stderr, "KVM required (%s=1) but the examples cannot run: %s\n", kvmtest.RequireEnv, reason)
				return 1
			}
			fmt.Printf("skipping the examples: %s\n", reason)
			_ = flag.Set("test.skip", "^Example")
		}
		return m.Run()
	}()
	os.Exit(code)
}

// exampleSetup builds gonest into dir; it returns why the examples cannot
// run, or "".
func exampleSetup(dir string) string {
	sys, err := kvm.Open()
	if err != nil {
		return "KVM unavailable: " + err.Error()
	}
	sys.Close()
	var out bytes.Buffer
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "gonest"), "../cmd/gonest")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		log.Fatalf("go build ./cmd/gonest: %v\n%s", err, out.String())
	}
	os.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return ""
}

// Boot a guest with gonest and read its verdict. The guest here is a few
// bytes of machine code (package internal/tinyelf builds it): it prints a
// line on its serial console and writes 0, pass, to the exit port. A Linux
// guest is the same Spec with an Initrd, and a guest that runs gonest-init
// adds Scenario and GuestReports.
func Example() {
	dir, err := os.MkdirTemp("", "example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	var guest tinyelf.Asm
	guest.Print(boot.COM1Port, "hello from a tiny guest\n").Exit(guestabi.ExitPort, uint8(guestabi.Pass)).Hlt()
	kernel, err := tinyelf.Write(dir, "tiny.elf", guest.Bytes())
	if err != nil {
		log.Fatal(err)
	}

	res, err := launch.Run(context.Background(), launch.Spec{
		VMM:     launch.Gonest{}, // gonest from $PATH
		Kernel:  kernel,
		Memory:  16 << 20,
		Level:   "G1",
		Timeout: time.Minute,
		Console: os.Stdout, // "[G1] " before each line
		VMMLog:  os.Stderr, // gonest's own warnings
	}, nil)
	if err != nil {
		log.Fatal(err) // no verdict: the error says why, with the console's last lines
	}
	fmt.Println("verdict:", res.Verdict)
	// Output:
	// [G1] hello from a tiny guest
	// verdict: pass
}

// A Go test runs a command in a VM with the host's files and gets its
// output and exit code: gonest exec underneath.
func ExampleExec() {
	res, err := launch.Exec(context.Background(), launch.ExecSpec{
		Args:    []string{"sh", "-c", "uname -r; exit 3"},
		Timeout: 5 * time.Minute,
	})
	var ee *launch.ExecError
	switch {
	case errors.As(err, &ee):
		fmt.Println("no exit status:", ee.Result.Reason) // a kernel panic, -timeout, bad input
	case err != nil:
		fmt.Println("gonest did not start:", err)
	default:
		fmt.Printf("exit %d, stdout %q\n", res.ExitCode, res.Stdout)
	}
}
