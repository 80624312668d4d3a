//go:build race

package main

// raceEnabled: the tests run under -race, so the gonest binary they run
// is built with -race too, and a data race in it fails the run (exit 66,
// "WARNING: DATA RACE" on stderr).
const raceEnabled = true
