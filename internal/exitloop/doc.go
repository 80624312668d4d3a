// Package exitloop builds the tiny guests of the exit-multiplication
// experiment: each runs a loop of one kind of exit a fixed number of
// times, between two timing markers, then writes 0 to the exit port.
//
// Run as G2 under a gonest in G1, a loop shows what one kind of exit of
// G2 costs every level: G1's gonest counts G2's exits in a window opened
// and closed at the markers (package window), and H's gonest counts, in
// the same window one level up, which of them L0 handled and how many
// exits of G1 each reflected one cost (package ktrace).
//
// Every guest is a tinyelf image entered in 64-bit mode with gonest's
// identity page tables (the low 4 GiB, 2 MiB pages). The layout:
//
//	marker "init started"
//	set-up of the kind (IDT and LAPIC timer for hlt, registers for the rest)
//	marker "scenario start"         the window opens
//	ESI = N; loop: BODY; dec esi; jnz loop
//	marker "scenario end"           the window closes
//	exit 0
//
// The markers are those of package guestabi, so a nested gonest with
// -forward-markers passes them up with their depth raised, and the same
// -window spec works at every level ("scenario start..scenario end" in
// G1, "+1 scenario start..+1 scenario end" in H).
package exitloop
