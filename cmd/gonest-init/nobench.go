//go:build !gonest_bench

package main

import "github.com/gonest/gonest/scenario"

// benchScenarios is empty outside the bench image (see bench.go).
func benchScenarios() []scenario.Scenario { return nil }

// benchHelpers is empty outside the bench image (see bench.go).
var benchHelpers map[string]func(args []string) int
