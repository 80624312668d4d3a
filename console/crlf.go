package console

import "io"

// HostWriter returns the writer the host's own messages (logs, the -stats
// report) should go through while the console runs. A raw terminal no
// longer turns "\n" into "\r\n", so on a terminal the returned writer adds
// the "\r" itself; on a plain stream it returns w unchanged.
func (c *Console) HostWriter(w io.Writer) io.Writer {
	if !c.terminal {
		return w
	}
	return crlfWriter{w}
}

type crlfWriter struct{ w io.Writer }

// Write writes p with every "\n" not already preceded by "\r" expanded to
// "\r\n". It reports len(p) on success, as io.Writer requires.
func (c crlfWriter) Write(p []byte) (int, error) {
	out := make([]byte, 0, len(p)+8)
	for i, b := range p {
		if b == '\n' && (i == 0 || p[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, b)
	}
	if _, err := c.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
