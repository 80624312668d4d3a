package ktrace

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// Format is an event's format file (events/SYSTEM/EVENT/format): its id
// and the fields of its record.
type Format struct {
	Name   string
	ID     int
	Fields []Field
	// PrintFmt is the event's TP_printk as the kernel expanded it: the
	// format string, then the arguments.
	PrintFmt string
}

// Field is one field of an event record, as the format file lists it:
// "field:unsigned int exit_reason;	offset:8;	size:4;	signed:0;".
type Field struct {
	Name   string
	Type   string
	Offset int
	Size   int
	Signed bool
}

// Has reports whether the event has a field called name.
func (f *Format) Has(name string) bool {
	for _, fl := range f.Fields {
		if fl.Name == name {
			return true
		}
	}
	return false
}

// maxFormatFields bounds a format file, which the kernel writes, so that a
// corrupt one cannot make the parser grow without limit.
const maxFormatFields = 256

// ParseFormat parses the text of an event's format file. It needs the
// name line and at least one field; lines it does not know are skipped.
func ParseFormat(text string) (*Format, error) {
	f := &Format{ID: -1}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20) // print fmt lines list every exit reason
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "name:"):
			f.Name = strings.TrimSpace(strings.TrimPrefix(line, "name:"))
		case strings.HasPrefix(line, "ID:"):
			id, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "ID:")))
			if err != nil {
				return nil, fmt.Errorf("event format: bad ID line %q", line)
			}
			f.ID = id
		case strings.HasPrefix(line, "print fmt:"):
			f.PrintFmt = strings.TrimSpace(strings.TrimPrefix(line, "print fmt:"))
		case strings.HasPrefix(line, "field:"):
			fl, err := parseField(line)
			if err != nil {
				return nil, fmt.Errorf("event format %s: %w", f.Name, err)
			}
			if len(f.Fields) == maxFormatFields {
				return nil, fmt.Errorf("event format %s: more than %d fields", f.Name, maxFormatFields)
			}
			f.Fields = append(f.Fields, fl)
		}
	}
	if f.Name == "" {
		return nil, fmt.Errorf("event format: no name line")
	}
	if len(f.Fields) == 0 {
		return nil, fmt.Errorf("event format %s: no fields", f.Name)
	}
	return f, nil
}

// parseField parses "field:TYPE NAME;\toffset:N;\tsize:N;\tsigned:N;".
func parseField(line string) (Field, error) {
	var fl Field
	for _, part := range strings.Split(line, ";") {
		part = strings.TrimSpace(part)
		key, val, ok := strings.Cut(part, ":")
		if !ok {
			continue
		}
		var err error
		switch key {
		case "field":
			i := strings.LastIndexAny(val, " \t*")
			if i < 0 || i == len(val)-1 {
				return fl, fmt.Errorf("field %q has no name", val)
			}
			fl.Type, fl.Name = strings.TrimSpace(val[:i+1]), val[i+1:]
			// An array field names itself "insn[15]".
			if b := strings.IndexByte(fl.Name, '['); b > 0 {
				fl.Name = fl.Name[:b]
			}
		case "offset":
			fl.Offset, err = strconv.Atoi(val)
		case "size":
			fl.Size, err = strconv.Atoi(val)
		case "signed":
			fl.Signed = val == "1"
		}
		if err != nil {
			return fl, fmt.Errorf("field %s: bad %s %q", fl.Name, key, val)
		}
	}
	if fl.Name == "" {
		return fl, fmt.Errorf("line %q has no field", line)
	}
	return fl, nil
}

// ReasonTables reads the exit reason names out of the event's print fmt:
// kvm_print_exit_reason expands to two __print_symbolic lists, VMX's
// (taken when isa == 1) then SVM's, so a running kernel tells the names of
// exit codes this package's tables, from Linux 6.1, do not know. ok is
// false when the print fmt has not those two lists.
func (f *Format) ReasonTables() (vmx, svm map[uint32]string, ok bool) {
	lists := symbolicLists(f.PrintFmt)
	if len(lists) < 2 {
		return nil, nil, false
	}
	return lists[0], lists[1], true
}

// symbolicLists parses each __print_symbolic(VALUE, { N, "name" }, ...) of
// a print fmt into a map; N may be a sum such as "0x040 + 14" or -1 (taken
// as unsigned 32-bit, as the exit_reason field is).
func symbolicLists(pf string) []map[uint32]string {
	var out []map[uint32]string
	const marker = "__print_symbolic("
	for {
		i := strings.Index(pf, marker)
		if i < 0 {
			return out
		}
		pf = pf[i+len(marker):]
		m := map[uint32]string{}
		rest := pf
		for {
			open := strings.IndexAny(rest, "{)")
			if open < 0 || rest[open] == ')' {
				break
			}
			end := strings.IndexByte(rest[open:], '}')
			if end < 0 {
				break
			}
			entry := rest[open+1 : open+end]
			rest = rest[open+end+1:]
			num, name, ok := strings.Cut(entry, ",")
			if !ok {
				continue
			}
			v, ok := sumLiterals(num)
			name = strings.Trim(strings.TrimSpace(name), `"`)
			if ok && name != "" {
				m[uint32(v)] = name
			}
		}
		pf = rest
		out = append(out, m)
	}
}

// sumLiterals evaluates "0x040 + 14" or "-1".
func sumLiterals(s string) (int64, bool) {
	var total int64
	for _, term := range strings.Split(s, "+") {
		n, err := strconv.ParseInt(strings.TrimSpace(term), 0, 64)
		if err != nil {
			return 0, false
		}
		total += n
	}
	return total, true
}
