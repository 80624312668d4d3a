package job

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func validJob() Job {
	return Job{
		Args: []string{"/tmp/go-build1/b001/pkg.test", "-test.v"},
		Dir:  "/home/u/src/pkg",
		Env:  []string{"PATH=/usr/bin:/bin", "HOME=/home/u", "EMPTY="},
		UID:  1000, GID: 1000, Groups: []uint32{27, 1000}, Umask: 0o022,
		NoFile: [2]uint64{1024, 524288}, Hostname: "ci",
		Root:   Root{Tag: TagRoot, Transport: TransportVirtioFS, Submounts: []string{"/boot", "/tmp"}},
		Shares: []Share{{Tag: RWTag(0), Path: "/home/u/src/pkg"}},
	}
}

func TestEncodeReadRoundTrip(t *testing.T) {
	j := validJob()
	line, err := Encode(j)
	require.NoError(t, err)
	assert.Equal(t, byte('\n'), line[len(line)-1])
	assert.Equal(t, 1, bytes.Count(line, []byte("\n")), "one line")

	stream := append(append(line, EncodeControl(Control{Signal: 2})...), EncodeControl(Control{Signal: 15})...)
	r := bufio.NewReaderSize(bytes.NewReader(stream), 16) // smaller than the line: read in pieces
	got, err := Read(r)
	require.NoError(t, err)
	assert.Equal(t, j, got)
	for _, want := range []int{2, 15} {
		c, err := ReadControl(r)
		require.NoError(t, err)
		assert.Equal(t, want, c.Signal)
	}
	_, err = ReadControl(r)
	assert.ErrorIs(t, err, io.EOF)
}

func TestBadJobs(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Job)
		want   string
	}{
		{"no command", func(j *Job) { j.Args = nil }, "no command"},
		{"empty command", func(j *Job) { j.Args = []string{""} }, "no command"},
		{"relative dir", func(j *Job) { j.Dir = "src" }, "not a clean absolute path"},
		{"dir with ..", func(j *Job) { j.Dir = "/a/../etc" }, "not a clean absolute path"},
		{"NUL in an argument", func(j *Job) { j.Args = append(j.Args, "a\x00b") }, "NUL"},
		{"env without =", func(j *Job) { j.Env = append(j.Env, "JUSTKEY") }, "not KEY=VALUE"},
		{"env without key", func(j *Job) { j.Env = append(j.Env, "=v") }, "not KEY=VALUE"},
		{"transport", func(j *Job) { j.Root.Transport = "nfs" }, "root transport"},
		{"root tag", func(j *Job) { j.Root.Tag = "a b" }, "root tag"},
		{"submount /", func(j *Job) { j.Root.Submounts = []string{"/"} }, "submount"},
		{"submount relative", func(j *Job) { j.Root.Submounts = []string{"tmp"} }, "submount"},
		{"share at /", func(j *Job) { j.Shares = []Share{{Tag: "x", Path: "/"}} }, "below /"},
		{"share escaping", func(j *Job) { j.Shares = []Share{{Tag: "x", Path: "/a/../../b"}} }, "below /"},
		{"share tag", func(j *Job) { j.Shares = []Share{{Tag: "../x", Path: "/a"}} }, "share tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := validJob()
			tt.change(&j)
			_, err := Encode(j)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			// The guest refuses the same job if a host sent it anyway.
			raw, merr := jsonLine(j)
			require.NoError(t, merr)
			_, err = Read(bufio.NewReader(bytes.NewReader(raw)))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestReadRefuses(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", "EOF"},
		{"no newline", `{"args":["x"]}`, "unexpected EOF"},
		{"not JSON", "hello\n", "invalid character"},
		{"unknown field", `{"args":["x"],"dir":"/","root":{"tag":"t","transport":"9p"},"evil":1}` + "\n", "unknown field"},
		{"two objects", `{"args":["x"],"dir":"/","root":{"tag":"t","transport":"9p"}} {}` + "\n", "text after"},
		{"too long", strings.Repeat("x", MaxJobLine+10) + "\n", "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(bufio.NewReader(strings.NewReader(tt.in)))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestReadControlRefuses(t *testing.T) {
	for _, in := range []string{`{"signal":99}` + "\n", `{"signal":-1}` + "\n", "junk\n", strings.Repeat("{", 300) + "\n"} {
		_, err := ReadControl(bufio.NewReader(strings.NewReader(in)))
		assert.Error(t, err, "%q", in)
	}
}

func TestEncodeRefusesHugeEnvironment(t *testing.T) {
	j := validJob()
	j.Env = append(j.Env, "BIG="+strings.Repeat("x", MaxJobLine))
	_, err := Encode(j)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "more than")
}

func TestRWTag(t *testing.T) {
	assert.Equal(t, "gonest.rw0", RWTag(0))
	assert.Equal(t, "gonest.rw12", RWTag(12))
}
