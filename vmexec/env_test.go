package vmexec

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestGuestEnv(t *testing.T) {
	in := []string{
		"PATH=/usr/bin:/bin", "HOME=/home/u", "DISPLAY=:0", "SSH_AUTH_SOCK=/run/user/1000/ssh",
		"GOFLAGS=-mod=mod", "XDG_RUNTIME_DIR=/run/user/1000", "CI=true", "TERM=xterm",
		"NOTIFY_SOCKET=/run/systemd/notify", "TMPDIR=/tmp", "HOME=/root", "junk", "=novalue", "EMPTY=",
	}
	assert.Equal(t, []string{
		"PATH=/usr/bin:/bin", "HOME=/root", "GOFLAGS=-mod=mod", "CI=true", "TERM=xterm", "TMPDIR=/tmp", "EMPTY=",
	}, GuestEnv(in), "host-only variables dropped, a later duplicate wins in the first one's place, junk dropped")
	assert.Empty(t, GuestEnv(nil))
}
