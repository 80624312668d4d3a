package scenario

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWaitLine(t *testing.T) {
	tests := []struct {
		name, input string
		ok          bool
	}{
		{"alone", "go\n", true},
		{"after noise", "hello\n  go  \n", true},
		{"not a prefix", "gone\n", false},
		{"no newline", "go", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			require.NoError(t, err)
			defer r.Close()
			_, err = w.WriteString(tt.input)
			require.NoError(t, err)
			require.NoError(t, w.Close())
			err = waitLine(context.Background(), r, manyGo)
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err, "the input ended without the line")
			}
		})
	}
	t.Run("context ends", func(t *testing.T) {
		r, w, err := os.Pipe()
		require.NoError(t, err)
		defer r.Close()
		defer w.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		assert.ErrorIs(t, waitLine(ctx, r, manyGo), context.DeadlineExceeded)
	})
}

func TestManyDisks(t *testing.T) {
	for _, level := range manyLevels {
		assert.Len(t, manyHeader(level), manyBlock)
		assert.Len(t, manyReply(level), manyBlock)
		assert.NotEqual(t, manyHeader(level), manyReply(level))
	}
	assert.NotEqual(t, manyHeader("G2a"), manyHeader("G2b"), "each G2 knows its own disk")
}

func TestCrashLine(t *testing.T) {
	shutdown := "gonest: vcpu 0: KVM_EXIT_SHUTDOWN (triple fault) at rip=0xfff0"
	tests := []struct {
		name  string
		lines []string
		want  string
	}{
		{"the exit among the registers", []string{"a sibling crashes now", shutdown, "rax=0", "gdt=0/ffff idt=0/ffff"}, shutdown},
		{"no exit named", []string{"one", "two"}, "two"},
		{"nothing", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, crashLine(tt.lines))
		})
	}
}
