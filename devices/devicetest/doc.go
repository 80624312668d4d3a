// Package devicetest drives a devices.Device the way a hostile guest can:
// reads and writes of any width from 0 to 8 bytes, at any offset inside
// the device's range or just past it, in any order. Fuzz targets decode
// their input into such accesses (Decode), run them (Run) and check the
// device's own invariants after each one.
package devicetest
