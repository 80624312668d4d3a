package initkit

import (
	"os"
	"strings"
)

// ReadCmdline reads this kernel's command line (/proc/cmdline) as
// ParseCmdline splits it.
func ReadCmdline() (map[string]string, error) {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return nil, err
	}
	return ParseCmdline(strings.TrimSpace(string(b))), nil
}

// ParseCmdline splits a kernel command line into key=value parameters as
// the kernel does: spaces separate parameters, double quotes protect spaces
// ("key=\"a b\""), and a parameter without '=' maps to "". A later value
// for a key wins.
func ParseCmdline(line string) map[string]string {
	params := map[string]string{}
	var cur strings.Builder
	inQuote := false
	flush := func() {
		if cur.Len() == 0 {
			return
		}
		key, value, _ := strings.Cut(cur.String(), "=")
		params[key] = value
		cur.Reset()
	}
	for _, r := range line {
		switch {
		case r == '"':
			inQuote = !inQuote
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return params
}
