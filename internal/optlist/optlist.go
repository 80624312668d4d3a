package optlist

import "strings"

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
