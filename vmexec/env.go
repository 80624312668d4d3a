package vmexec

import (
	"slices"
	"strings"
)

// HostOnlyEnv lists the environment variables gonest exec does not pass
// to the command: each names something that exists only on the host
// (a socket, a display, a login session, a process that started gonest)
// and would mislead a program in the guest. Everything else passes
// through unchanged, PATH, HOME, TMPDIR, GOFLAGS and CI variables
// included.
var HostOnlyEnv = []string{
	// A graphical session and its sockets.
	"DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY", "DBUS_SESSION_BUS_ADDRESS", "SESSION_MANAGER",
	"WINDOWID",
	// The login session, its runtime directory and its agents.
	"XDG_RUNTIME_DIR", "XDG_SESSION_ID", "XDG_SEAT", "XDG_VTNR", "SSH_AUTH_SOCK", "SSH_AGENT_PID",
	"SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY", "GPG_AGENT_INFO",
	// Terminal multiplexers, whose servers run on the host.
	"TMUX", "TMUX_PANE", "STY",
	// systemd's hand-over to the process it started.
	"NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "INVOCATION_ID", "JOURNAL_STREAM",
}

// GuestEnv returns env without the host-only variables, in order. A later
// duplicate of a key wins, as in exec(3)'s lookups.
func GuestEnv(env []string) []string {
	out := make([]string, 0, len(env))
	seen := map[string]int{}
	for _, kv := range env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsRune(kv, 0) || slices.Contains(HostOnlyEnv, k) {
			continue
		}
		if i, dup := seen[k]; dup {
			out[i] = kv
			continue
		}
		seen[k] = len(out)
		out = append(out, kv)
	}
	return out
}
