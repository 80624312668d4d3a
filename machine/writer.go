package machine

import "io"

// teeWriter writes to w (when not nil) and then to hook, which never fails.
func teeWriter(w io.Writer, hook io.Writer) io.Writer {
	if w == nil {
		return hook
	}
	return &tee{w: w, hook: hook}
}

type tee struct{ w, hook io.Writer }

func (t *tee) Write(p []byte) (int, error) {
	t.hook.Write(p) //nolint:errcheck // the hook cannot fail
	return t.w.Write(p)
}
