package hostfs

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// The guest's kernel has already applied its process's umask to the mode
// of every file it creates (the FUSE requests carry the masked mode), so
// the host must not apply gonest's own umask on top: a guest that asks
// for 0775 gets 0775, and a directory's default ACL still applies, as
// with virtiofsd, which runs with umask 0. gonest cannot change its
// process-wide umask under its other goroutines, so the system calls
// that create files run on one OS thread that unshared its file system
// attributes (unshare(CLONE_FS), which makes the umask per thread) and
// set umask 0 there.

// creator runs functions on the umask-0 thread.
type creator struct {
	calls chan func()
	done  chan struct{}
}

// newCreator starts the thread. It returns nil when the kernel refuses
// unshare(CLONE_FS) (a seccomp filter, say); files are then created by
// the calling goroutine, with gonest's umask.
func newCreator() *creator {
	c := &creator{calls: make(chan func()), done: make(chan struct{})}
	ready := make(chan bool)
	go func() {
		// The thread is never unlocked: when this goroutine returns, the
		// runtime ends the thread with its private umask.
		runtime.LockOSThread()
		defer close(c.done)
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			ready <- false
			return
		}
		unix.Umask(0)
		ready <- true
		for f := range c.calls {
			f()
		}
	}()
	if !<-ready {
		return nil
	}
	return c
}

// run calls f on the creator thread and waits for it.
func (c *creator) run(f func() error) error {
	if c == nil {
		return f()
	}
	var err error
	done := make(chan struct{})
	c.calls <- func() {
		err = f()
		close(done)
	}
	<-done
	return err
}

// stop ends the thread once it has run every call made before.
func (c *creator) stop() {
	if c != nil {
		close(c.calls)
		<-c.done
	}
}
