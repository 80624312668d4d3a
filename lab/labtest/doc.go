// Package labtest is the one way a test finds the lab's built images.
//
// Images reads GONEST_IMAGES (the images/out directory `make images`
// fills). When it is unset, or the images or QEMU are missing, the test is
// skipped with the reason; with GONEST_REQUIRE_LAB=1, which `make test` and
// `make lab-test` set after building the images, it fails instead, so a CI
// run cannot pass by skipping its lab tests.
package labtest
