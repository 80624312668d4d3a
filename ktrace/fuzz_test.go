package ktrace

import (
	"strings"
	"testing"
)

// FuzzParsers: no text a tracefs file could hold makes the parsers panic
// or allocate without bound.
func FuzzParsers(f *testing.F) {
	f.Add(histText("exit_reason,isa", [][]uint64{{0x7b, 2, 5}}))
	f.Add(syntheticTrace)
	f.Add("name: kvm_exit\nID: 1\nformat:\n\tfield:int a;\toffset:0;\tsize:4;\tsigned:1;\n\nprint fmt: \"%s\", __print_symbolic(REC->a, { 0x1 + 2, \"x\" }, { -1, \"y\" })\n")
	f.Add("{ exit_reason: 1 } hitcount: 2\nTotals:\n Hits: 2\n Dropped: 0\n")
	f.Fuzz(func(t *testing.T, s string) {
		if h, err := ParseHist(s); err == nil {
			ec := &EventCount{}
			_ = ec.fromHist(s, "exit_reason,isa", reasonTables{})
			_ = h
		}
		if fm, err := ParseFormat(s); err == nil {
			_, _, _ = fm.ReasonTables()
		}
		_, _ = countText(strings.NewReader(s), map[string]bool{"kvm_exit": true, "kvm_nested_vmexit_inject": true, "kvm_nested_vmenter": true})
	})
}
