// Package virtiotest plays the guest side of a split virtqueue for tests:
// it lays out the rings in fake guest memory (guestmem.FromBytes), writes
// descriptor chains the way a driver would (AddChain) or the way a hostile
// one would (SetDesc, WriteTable, Publish with any head), publishes them
// with the same atomic index stores a real driver uses, and reads back the
// used ring (TakeUsed). Device tests use it; nothing else should.
package virtiotest
