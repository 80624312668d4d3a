package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonest/gonest/doctor"
	"github.com/gonest/gonest/kvm"
)

// noKVMHost is a host without /dev/kvm: the doctor reports and exits 1.
func noKVMHost(t *testing.T) doctor.Host {
	dev := filepath.Join(t.TempDir(), "kvm")
	return doctor.Host{
		FS: fstest.MapFS{"proc/cpuinfo": {Data: []byte("flags\t: fpu svm\n")}},
		OpenKVM: func() (doctor.KVM, error) {
			_, err := kvm.OpenPath(dev)
			return nil, err
		},
	}
}

func TestDoctorFlags(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string // prefix
		wantStderr string // exact
	}{
		{"text report", nil, 1, "verdict: nested virtualization is NOT possible here: ", ""},
		{"json report", []string{"-json"}, 1, "{\n  \"verdict\": ", ""},
		{"help", []string{"-h"}, 0, "Usage: gonest doctor [-json]\n", ""},
		{"unknown flag", []string{"-verbose"}, 2, "",
			"gonest doctor: flag provided but not defined: -verbose (see gonest doctor -h)\n"},
		{"bad flag value", []string{"-json=maybe"}, 2, "",
			"gonest doctor: invalid boolean value \"maybe\" for -json: parse error (see gonest doctor -h)\n"},
		{"stray argument", []string{"now"}, 2, "",
			"gonest doctor: unexpected argument \"now\" (the only flag is -json; see gonest doctor -h)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := doctorMain(tt.args, &stdout, &stderr, noKVMHost(t))
			assert.Equal(t, tt.wantCode, code)
			assert.Equal(t, tt.wantStderr, stderr.String())
			if tt.wantStdout == "" {
				assert.Empty(t, stdout.String())
			} else {
				assert.True(t, strings.HasPrefix(stdout.String(), tt.wantStdout), "stdout:\n%s", stdout.String())
			}
		})
	}
}

func TestDoctorTextWithoutKVM(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, 1, doctorMain(nil, &stdout, &stderr, noKVMHost(t)))
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	require.Len(t, lines, 13, "a verdict and twelve checks")
	assert.Contains(t, lines[0], "does not exist: load kvm_intel or kvm_amd, or run inside the lab (make lab)")
	assert.Regexp(t, `^  fail +device +.*does not exist`, lines[1])
	for _, l := range lines[2:] {
		assert.Regexp(t, `^  (ok|warn|fail|unavailable) +[a-z_]+ +\S`, l)
	}
}

func TestDoctorJSONWithoutKVM(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, 1, doctorMain([]string{"-json"}, &stdout, &stderr, noKVMHost(t)))
	var doc struct {
		Verdict string `json:"verdict"`
		CanNest bool   `json:"can_nest"`
		Backend string `json:"backend"`
		Checks  []struct {
			Name, Status, Evidence string
		} `json:"checks"`
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &doc))
	assert.False(t, doc.CanNest)
	assert.Equal(t, "none", doc.Backend)
	require.NotEmpty(t, doc.Checks)
	assert.Equal(t, "device", doc.Checks[0].Name)
	assert.Equal(t, "fail", doc.Checks[0].Status)
	assert.Empty(t, stderr.String())
}

func TestDoctorIsWired(t *testing.T) {
	var stdout, stderr bytes.Buffer
	assert.Equal(t, 2, run([]string{"doctor", "-bogus"}, nil, &stdout, &stderr))
	assert.Equal(t, "gonest doctor: flag provided but not defined: -bogus (see gonest doctor -h)\n", stderr.String())
}
