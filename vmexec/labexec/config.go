package labexec

import (
	"encoding/json"
	"fmt"
	"os"
)

// Config tells the tests in H where the lab put things. Paths are H's, and
// the Go paths are the same as on the machine that started the lab, so
// that its build cache's keys hold in H.
type Config struct {
	Gonest   string   `json:"gonest"`    // the gonest under test (H's /bin/gonest)
	GoRoot   string   `json:"goroot"`    // the Go toolchain, read-only
	GoCache  string   `json:"gocache"`   // a build cache the lab warmed, writable
	ModCache string   `json:"modcache"`  // the module cache, read-only
	Repo     string   `json:"repo"`      // the gonest repository, read-only
	Work     string   `json:"work"`      // a copy of testdata/execpkg, writable; the lab checks it afterwards
	KVMTests []string `json:"kvm_tests"` // packages of Repo to run with go test -exec (./kvm)
}

// WrittenFile is what the package test writes into its working
// directory, and WrittenText the contents; the lab checks both on its
// own machine after the run.
const (
	WrittenFile = "written-in-guest.txt"
	WrittenText = "written by execpkg's test inside the exec guest\n"
)

// ReadConfig reads the file the exec scenario names.
func ReadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
