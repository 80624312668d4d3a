// Package iov handles scatter lists: a request's buffers as the virtio
// chain walker hands them over (slices of guest memory, in order), and
// the iovecs preadv and pwritev take. A nil buffer (one outside guest
// memory) holds nothing.
package iov
