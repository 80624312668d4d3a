package launch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeGonest writes a script that plays gonest exec: it records its
// arguments, prints out and errText, writes status (when not empty) to
// the -status descriptor, and exits with code.
func fakeGonest(t *testing.T, out, errText, status string, code int) (bin, argsFile string) {
	t.Helper()
	dir := t.TempDir()
	file := func(name, data string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
		return p
	}
	argsFile = filepath.Join(dir, "args")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" >" + argsFile + "\ncat >/dev/null\n" +
		"cat " + file("out", out) + "\ncat " + file("err", errText) + " >&2\n"
	if status != "" {
		script += "cat " + file("status", status) + " >&3\n"
	}
	script += "exit " + strconv.Itoa(code) + "\n"
	bin = file("gonest", script)
	require.NoError(t, os.Chmod(bin, 0o755))
	return bin, argsFile
}

func TestExecCommandExited(t *testing.T) {
	bin, argsFile := fakeGonest(t, "out\n", "err\n",
		`{"exit_code":7,"command_exited":true,"phases":{"init_started_s":0.5,"command_started_s":0.75,"command_exited_s":1,"total_s":1.25}}`, 7)
	res, err := Exec(context.Background(), ExecSpec{
		Gonest: Gonest{Binary: bin}, Args: []string{"sh", "-c", "exit 7"}, Dir: t.TempDir(),
		Memory: 384 << 20, CPUs: 2, Nested: "off", Timeout: 90 * time.Second, RW: []string{"/a", "/b"},
		Kernel: "vmlinuz", Modules: "mods", Stdin: strings.NewReader("input"),
	})
	require.NoError(t, err, "the command ran and exited: no error, whatever its code")
	assert.Equal(t, 7, res.ExitCode)
	assert.True(t, res.CommandExited)
	assert.Equal(t, "out\n", string(res.Stdout))
	assert.Equal(t, "err\n", string(res.Stderr))
	assert.Equal(t, ExecPhases{InitStarted: 500 * time.Millisecond, CommandStarted: 750 * time.Millisecond,
		CommandExited: time.Second, Total: 1250 * time.Millisecond}, res.Phases)
	args, err := os.ReadFile(argsFile)
	require.NoError(t, err)
	assert.Equal(t, "exec -status /proc/self/fd/3 -kernel vmlinuz -modules mods -m 384M -smp 2 -nested off -timeout 1m30s -rw /a -rw /b -- sh -c exit 7",
		strings.Join(strings.Fields(strings.ReplaceAll(string(args), "\n", " ")), " "))
}

func TestExecStreams(t *testing.T) {
	bin, _ := fakeGonest(t, "streamed\n", "also\n", `{"exit_code":0,"command_exited":true}`, 0)
	var out, errw strings.Builder
	res, err := Exec(context.Background(), ExecSpec{Gonest: Gonest{Binary: bin}, Args: []string{"true"}, Stdout: &out, Stderr: &errw})
	require.NoError(t, err)
	assert.Equal(t, "streamed\n", out.String())
	assert.Equal(t, "also\n", errw.String())
	assert.Nil(t, res.Stdout, "streamed, not kept")
}

func TestExecNoExitStatus(t *testing.T) {
	bin, _ := fakeGonest(t, "", "gonest exec: the guest's kernel panicked before the command finished\n",
		`{"exit_code":125,"command_exited":false,"reason":"the guest's kernel panicked before the command finished"}`, 125)
	res, err := Exec(context.Background(), ExecSpec{Gonest: Gonest{Binary: bin}, Args: []string{"x"}})
	var ee *ExecError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 125, res.ExitCode)
	assert.False(t, res.CommandExited)
	assert.Equal(t, "the guest's kernel panicked before the command finished", res.Reason)
	assert.Equal(t, "gonest exec: exit 125: the guest's kernel panicked before the command finished", err.Error())
}

func TestExecBadInput(t *testing.T) {
	bin, _ := fakeGonest(t, "", "gonest exec: -rw nodir does not exist; give an existing directory\n", "", 2)
	res, err := Exec(context.Background(), ExecSpec{Gonest: Gonest{Binary: bin}, Args: []string{"x"}, RW: []string{"nodir"}})
	var ee *ExecError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 2, res.ExitCode)
	assert.Equal(t, "gonest exec: -rw nodir does not exist; give an existing directory", res.Reason)
}

func TestExecSpecErrors(t *testing.T) {
	bin, _ := fakeGonest(t, "", "", "", 0)
	tests := []struct {
		name string
		spec ExecSpec
		want string
	}{
		{"no command", ExecSpec{Gonest: Gonest{Binary: bin}}, "Args"},
		{"no gonest", ExecSpec{Gonest: Gonest{Binary: filepath.Join(t.TempDir(), "none")}, Args: []string{"x"}}, "Gonest"},
		{"odd memory", ExecSpec{Gonest: Gonest{Binary: bin}, Args: []string{"x"}, Memory: 1000}, "Memory"},
		{"bad nested", ExecSpec{Gonest: Gonest{Binary: bin}, Args: []string{"x"}, Nested: "maybe"}, "Nested"},
		{"negative timeout", ExecSpec{Gonest: Gonest{Binary: bin}, Args: []string{"x"}, Timeout: -1}, "Timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Exec(context.Background(), tt.spec)
			var se *SpecError
			require.True(t, errors.As(err, &se), "%v", err)
			assert.Equal(t, tt.want, se.Field)
		})
	}
}
