package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWithGODEBUG(t *testing.T) {
	assert.Equal(t, []string{"A=1", "GODEBUG=disablethp=1"}, withGODEBUG([]string{"A=1"}, "disablethp=1"))
	assert.Equal(t, []string{"GODEBUG=gctrace=1,disablethp=1", "B=2"}, withGODEBUG([]string{"GODEBUG=gctrace=1", "B=2"}, "disablethp=1"))
	assert.Equal(t, []string{"GODEBUG=disablethp=1"}, withGODEBUG([]string{"GODEBUG="}, "disablethp=1"))
}
