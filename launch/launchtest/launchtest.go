package launchtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/gonest/gonest/guestabi"
	"github.com/gonest/gonest/launch"
)

// Script is a VMM played by sh -c Sh. The guest's console is the script's
// stdout, the VMM's own output its stderr; $MSG is the message channel (a
// pipe, like gonest's -messages, where markers come as marker messages)
// and $CMDLINE the guest's kernel command line. Its exit status is
// decoded as gonest's.
type Script struct {
	Sh string
}

// Name implements launch.VMM.
func (Script) Name() string { return "script" }

// Check implements launch.VMM.
func (Script) Check(*launch.Spec) error { return nil }

// Command implements launch.VMM.
func (s Script) Command(ctx context.Context, spec *launch.Spec, w *launch.Wiring) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", s.Sh)
	msg, err := w.MessagePipe(cmd)
	if err != nil {
		return nil, err
	}
	cmd.Env = append(os.Environ(), "MSG="+msg, "CMDLINE="+spec.GuestCmdline())
	return cmd, nil
}

// Decode implements launch.VMM.
func (Script) Decode(status int) (guestabi.Verdict, bool) { return launch.Gonest{}.Decode(status) }

// Send is the shell command that sends m on $MSG.
func Send(m guestabi.Message) string {
	line, err := guestabi.EncodeMessage(m)
	if err != nil {
		panic(fmt.Sprintf("launchtest.Send: %v", err)) // a test's own mistake
	}
	return "printf '%s' '" + strings.ReplaceAll(string(line), "'", `'\''`) + "' >$MSG"
}

// Kernel writes a file that passes Spec's kernel check into dir.
func Kernel(dir string) (string, error) {
	p := dir + "/vmlinuz"
	return p, os.WriteFile(p, []byte("k"), 0o644)
}
