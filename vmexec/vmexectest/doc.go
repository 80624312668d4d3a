// Package vmexectest makes the files gonest exec looks at before it boots
// (a kernel with a version string, a modules directory), for tests that
// check its choices and its refusals without booting anything.
package vmexectest
