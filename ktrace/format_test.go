package ktrace

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readFixture reads a file captured from a real tracefs.
func readFixture(t *testing.T, parts ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"testdata"}, parts...)...))
	require.NoError(t, err)
	return string(b)
}

// TestParseFormatCaptured parses the formats of the four events as real
// kernels wrote them (testdata/linux-*/*.format, copied from
// events/kvm/*/format).
func TestParseFormatCaptured(t *testing.T) {
	for _, kernel := range fixtureKernels(t) {
		t.Run(kernel, func(t *testing.T) {
			for _, ev := range NestedEvents {
				f, err := ParseFormat(readFixture(t, kernel, ev+".format"))
				require.NoError(t, err, ev)
				assert.Equal(t, ev, f.Name)
				assert.Positive(t, f.ID)
				assert.True(t, f.Has("isa"), "%s has isa", ev)
				assert.True(t, f.Has("common_pid"), "%s has the common fields", ev)
				switch ev {
				case "kvm_exit", "kvm_nested_vmexit":
					assert.True(t, f.Has("exit_reason"))
				case "kvm_nested_vmexit_inject":
					assert.True(t, f.Has("exit_code"))
				case "kvm_nested_vmenter":
					assert.True(t, f.Has("guest_pgd"))
				}
				vmx, svm, ok := f.ReasonTables()
				if ev == "kvm_nested_vmenter" {
					assert.False(t, ok, "no exit reason in vmenter")
					continue
				}
				require.True(t, ok, ev)
				assert.Equal(t, "CPUID", vmx[10])
				assert.Equal(t, "EPT_VIOLATION", vmx[48])
				assert.Equal(t, "cpuid", svm[0x72])
				assert.Equal(t, "npf", svm[0x400])
				assert.Equal(t, "PF excp", svm[0x40+14], "a sum: 0x040 + 14")
				assert.Equal(t, "invalid_guest_state", svm[0xffffffff], "-1 as unsigned")
				for code, name := range svm {
					if want, ok := svmExitReasons[code]; ok {
						assert.Equal(t, want, name, "the built-in table agrees with %s at %#x", kernel, code)
					}
				}
			}
		})
	}
}

// fixtureKernels lists testdata/linux-*.
func fixtureKernels(t *testing.T) []string {
	t.Helper()
	m, err := filepath.Glob("testdata/linux-*")
	require.NoError(t, err)
	require.NotEmpty(t, m)
	var out []string
	for _, p := range m {
		out = append(out, filepath.Base(p))
	}
	return out
}

func TestParseFormatFields(t *testing.T) {
	f, err := ParseFormat(readFixture(t, "linux-6.18", "kvm_exit.format"))
	require.NoError(t, err)
	want := Field{Name: "exit_reason", Type: "unsigned int", Offset: 8, Size: 4}
	assert.Contains(t, f.Fields, want)
	assert.Contains(t, f.Fields, Field{Name: "common_pid", Type: "int", Offset: 4, Size: 4, Signed: true})
	assert.True(t, f.Has("requests"), "6.18 adds requests to kvm_exit")
}

func TestParseFormatRejects(t *testing.T) {
	field := "\tfield:int a;\toffset:0;\tsize:4;\tsigned:1;\n"
	tests := []struct{ name, text string }{
		{"empty", ""},
		{"no name", "ID: 3\nformat:\n" + field},
		{"no fields", "name: x\nID: 3\n"},
		{"bad ID", "name: x\nID: three\n" + field},
		{"bad offset", "name: x\n\tfield:int a;\toffset:zero;\tsize:4;\tsigned:1;\n"},
		{"field without a name", "name: x\n\tfield:int ;\toffset:0;\tsize:4;\tsigned:1;\n"},
		{"too many fields", "name: x\n" + strings.Repeat(field, maxFormatFields+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFormat(tt.text)
			assert.Error(t, err)
		})
	}
	f, err := ParseFormat("name: x\n" + strings.Repeat(field, maxFormatFields))
	require.NoError(t, err, "the limit itself is fine")
	assert.Len(t, f.Fields, maxFormatFields)
}

func TestSymbolicListsHostile(t *testing.T) {
	tests := []struct {
		name string
		pf   string
		want int // lists
	}{
		{"none", `"vcpu %u", REC->vcpu_id`, 0},
		{"cut short", `__print_symbolic(REC->x, { 1, "a" }, { 2, "b"`, 1},
		{"not a number", `__print_symbolic(REC->x, { FOO, "a" })`, 1},
		{"two lists", `__print_symbolic(a, { 1, "x" }) : __print_symbolic(b, { 2, "y" })`, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Len(t, symbolicLists(tt.pf), tt.want)
		})
	}
	l := symbolicLists(`__print_symbolic(a, { 0x10 + 2, "x" }, { -1, "err" })`)
	require.Len(t, l, 1)
	assert.Equal(t, map[uint32]string{0x12: "x", 0xffffffff: "err"}, l[0])
}

func TestReasonName(t *testing.T) {
	tests := []struct {
		isa  ISA
		code uint32
		want string
	}{
		{ISASVM, 0x7b, "io"},
		{ISASVM, 0x400, "npf"},
		{ISASVM, 0x80, "vmrun"},
		{ISASVM, 0x7777, "0x7777"},
		{ISAVMX, 30, "IO_INSTRUCTION"},
		{ISAVMX, 0x80000021, "INVALID_STATE FAILED_VMENTRY"},
		{ISAVMX, 999, "0x3e7"},
		{ISAUnknown, 5, "0x5"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ReasonName(tt.isa, tt.code), "%v %#x", tt.isa, tt.code)
	}
	own := reasonTables{svm: map[uint32]string{0xa6: "idle-halt"}}
	assert.Equal(t, "idle-halt", own.name(ISASVM, 0xa6), "the running kernel's name first")
	assert.Equal(t, "hlt", own.name(ISASVM, 0x78), "then the built-in table")
}
