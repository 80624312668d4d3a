// Command gonest-lab boots the lab host H under QEMU with one scenario and
// streams its console: `make lab SCENARIO=kvmtests` runs it. The shell
// scenario is interactive (QEMU gets the terminal; type `exit` to stop, or
// Ctrl-A x to kill QEMU).
//
// Its exit status is the scenario's verdict (0 pass, see package guestabi),
// or 125 when no verdict came back (timeout, panic, QEMU failure).
package main
