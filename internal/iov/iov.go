package iov

// Len returns the total length of bufs.
func Len(bufs [][]byte) uint64 {
	var n uint64
	for _, b := range bufs {
		n += uint64(len(b))
	}
	return n
}

// Advance drops the first n bytes of bufs, trimming the first buffer that
// keeps some in place.
func Advance(bufs [][]byte, n uint64) [][]byte {
	for len(bufs) > 0 && n >= uint64(len(bufs[0])) {
		n -= uint64(len(bufs[0]))
		bufs = bufs[1:]
	}
	if len(bufs) > 0 && n > 0 {
		bufs[0] = bufs[0][n:]
	}
	return bufs
}

// Trim appends to dst the first n bytes of bufs, as slices of them, and
// returns it.
func Trim(dst, bufs [][]byte, n uint64) [][]byte {
	for _, b := range bufs {
		if n == 0 {
			break
		}
		if uint64(len(b)) > n {
			b = b[:n]
		}
		dst = append(dst, b)
		n -= uint64(len(b))
	}
	return dst
}

// Gather copies the start of bufs into dst and returns how many bytes.
func Gather(dst []byte, bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		if n == len(dst) {
			break
		}
		n += copy(dst[n:], b)
	}
	return n
}

// Scatter copies as much of src as fits into bufs and returns how much.
func Scatter(bufs [][]byte, src []byte) int {
	n := 0
	for _, b := range bufs {
		if n == len(src) {
			break
		}
		n += copy(b, src[n:])
	}
	return n
}
