// Package labexec holds the gonest exec tests that run inside the lab's H
// (real SVM KVM under QEMU): H plays the host a user runs gonest exec on,
// and each test boots exec guests with H's own gonest, kernel and files.
// The lab test (lab/exec_test.go) builds this package's test binary,
// shares it, the Go toolchain, a build cache, the gonest repository and
// a copy of testdata/execpkg with H over virtio-fs, and boots H with the exec
// scenario, which runs the binary with ExecLabEnv naming a Config file.
// Outside the lab the tests skip, saying so.
package labexec
