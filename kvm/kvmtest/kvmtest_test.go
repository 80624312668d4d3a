package kvmtest

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

// recorder is a testing.TB that records how a test was ended instead of
// ending the real one.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f on its own goroutine, as the testing package does, so
// Goexit ends only f.
func run(f func(tb testing.TB)) *recorder {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

func TestUnavailableSkipsWithReason(t *testing.T) {
	t.Setenv(RequireEnv, "")
	r := run(func(tb testing.TB) { Unavailable(tb, "/dev/kvm does not exist") })
	assert.Equal(t, "skipping: KVM unavailable: /dev/kvm does not exist (set GONEST_REQUIRE_KVM=1 to make this a failure)", r.skipped)
	assert.Empty(t, r.failed)
}

func TestUnavailableFailsWhenRequired(t *testing.T) {
	t.Setenv(RequireEnv, "1")
	r := run(func(tb testing.TB) { Unavailable(tb, "/dev/kvm does not exist") })
	assert.Equal(t, "KVM required (GONEST_REQUIRE_KVM=1) but unavailable: /dev/kvm does not exist", r.failed)
	assert.Empty(t, r.skipped)
}

func TestNestedUnavailable(t *testing.T) {
	t.Setenv(RequireEnv, "1") // KVM being required does not make nesting required
	t.Setenv(RequireNestedEnv, "")
	r := run(func(tb testing.TB) { NestedUnavailable(tb, "no SVM") })
	assert.Contains(t, r.skipped, "nested virtualization unavailable: no SVM")

	t.Setenv(RequireNestedEnv, "1")
	r = run(func(tb testing.TB) { NestedUnavailable(tb, "no SVM") })
	assert.Contains(t, r.failed, "nested virtualization required (GONEST_REQUIRE_NESTED=1)")
}
