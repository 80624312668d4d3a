package optlist

import (
	"fmt"
	"strings"
)

// Split splits s at single commas; ",," stands for a literal comma. It
// always returns at least one field.
func Split(s string) []string {
	var fields []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != ',' {
			cur.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == ',' {
			cur.WriteByte(',')
			i++
			continue
		}
		fields = append(fields, cur.String())
		cur.Reset()
	}
	return append(fields, cur.String())
}

// Escape writes v so that Split reads it back as one field.
func Escape(v string) string { return strings.ReplaceAll(v, ",", ",,") }

// CheckWord accepts 1 to max bytes of letters, digits, '.', '_' and '-':
// a name that a guest can type in a command and that no shell or path
// splits (a share's tag, a port's name). what names it in errors.
func CheckWord(what, v string, max int) error {
	switch {
	case v == "":
		return fmt.Errorf("empty %s", what)
	case len(v) > max:
		return fmt.Errorf("%s %.40q... is longer than %d bytes", what, v, max)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%s %q: use letters, digits, '.', '_' and '-'", what, v)
		}
	}
	return nil
}
