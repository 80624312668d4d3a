package main

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/gonest/gonest/internal/syncbuf"
	"github.com/gonest/gonest/machine"
)

// stuckMachine records Stop calls and never stops: the first signal's stop
// is "stuck".
type stuckMachine struct{ stops chan machine.Outcome }

func (m *stuckMachine) Stop(o machine.Outcome) { m.stops <- o }

func TestSignalStop(t *testing.T) {
	tests := []struct {
		name      string
		machine   bool // the machine exists when the signals come
		sigs      []os.Signal
		wantStops []int // exit codes of the Stop calls
		wantExit  int   // -1: no forced exit
		wantMsg   string
	}{
		{"SIGINT stops the machine", true, []os.Signal{syscall.SIGINT}, []int{130}, -1, ""},
		{"SIGTERM stops the machine", true, []os.Signal{syscall.SIGTERM}, []int{143}, -1, ""},
		{"second SIGINT forces the exit", true, []os.Signal{syscall.SIGINT, syscall.SIGINT}, []int{130}, 130,
			"gonest: second SIGINT, exiting now\n"},
		{"SIGTERM then SIGINT forces the exit", true, []os.Signal{syscall.SIGTERM, syscall.SIGINT}, []int{143}, 130,
			"gonest: second SIGINT, exiting now\n"},
		{"second SIGTERM stops again", true, []os.Signal{syscall.SIGTERM, syscall.SIGTERM}, []int{143, 143}, -1, ""},
		{"SIGHUP stops the machine", true, []os.Signal{syscall.SIGHUP}, []int{129}, -1, ""},
		{"SIGPIPE stops the machine", true, []os.Signal{syscall.SIGPIPE}, []int{141}, -1, ""},
		{"SIGTERM before the machine exists", false, []os.Signal{syscall.SIGTERM}, nil, 143,
			"gonest: received terminated before the guest started; exiting\n"},
		{"SIGINT before the machine exists", false, []os.Signal{syscall.SIGINT}, nil, 130,
			"gonest: received interrupt before the guest started; exiting\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr syncbuf.Buffer
			exits := make(chan int, 1)
			s := newSignalStop(&stderr, func(code int) { exits <- code })
			m := &stuckMachine{stops: make(chan machine.Outcome, 4)}
			if tc.machine {
				s.setMachine(m)
			}
			done := make(chan struct{})
			go func() { s.loop(); close(done) }()
			for _, sig := range tc.sigs {
				s.sigs <- sig
			}
			var stops []int
			for range tc.wantStops {
				select {
				case o := <-m.stops:
					assert.Equal(t, machine.ReasonSignal, o.Reason)
					stops = append(stops, o.Code)
				case <-time.After(5 * time.Second):
					t.Fatal("no Stop")
				}
			}
			assert.Equal(t, tc.wantStops, stops)
			if tc.wantExit >= 0 {
				select {
				case code := <-exits:
					assert.Equal(t, tc.wantExit, code)
				case <-time.After(5 * time.Second):
					t.Fatal("no forced exit")
				}
				<-done
			} else {
				close(s.sigs)
				<-done
				assert.Empty(t, exits, "no forced exit")
			}
			assert.Equal(t, tc.wantMsg, stderr.String())
		})
	}
}
