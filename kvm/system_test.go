package kvm

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestOpenErrorsSayWhatToDo(t *testing.T) {
	tests := []struct {
		name  string
		errno unix.Errno
		want  string
		is    error
	}{
		{"missing", unix.ENOENT, "/dev/kvm does not exist: load kvm_intel or kvm_amd, or run inside the lab (make lab)", fs.ErrNotExist},
		{"permission", unix.EACCES, "/dev/kvm is not accessible to this user: add the user to the kvm group, or run as root", fs.ErrPermission},
		{"other", unix.EBUSY, "open /dev/kvm: device or resource busy", unix.EBUSY},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := openError("/dev/kvm", tt.errno)
			assert.Equal(t, tt.want, err.Error())
			assert.ErrorIs(t, err, tt.is)
		})
	}
}

func TestOpenPathMissingDevice(t *testing.T) {
	_, err := OpenPath(t.TempDir() + "/kvm")
	require.Error(t, err)
	var oe *OpenError
	require.True(t, errors.As(err, &oe))
	assert.Contains(t, err.Error(), "does not exist: load kvm_intel or kvm_amd")
	assert.ErrorIs(t, err, unix.ENOENT)
}

func TestOpenPathNotKVM(t *testing.T) {
	// /dev/null opens but rejects KVM ioctls: the error names the ioctl.
	_, err := OpenPath("/dev/null")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "KVM_GET_API_VERSION")
	assert.ErrorIs(t, err, unix.ENOTTY)
}

func TestCapString(t *testing.T) {
	assert.Equal(t, "KVM_CAP_NESTED_STATE", CapNestedState.String())
	assert.Equal(t, "KVM_CAP(999)", Cap(999).String())
}
