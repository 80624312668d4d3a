package ktrace

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSplitNested(t *testing.T) {
	tests := []struct {
		name                            string
		nested, inject                  map[string]uint64
		reflected, handled, synthesized uint64
		handledBy                       map[string]uint64
	}{
		{name: "SVM io, all reflected", nested: map[string]uint64{"io": 101}, inject: map[string]uint64{"io": 101},
			reflected: 101, handledBy: map[string]uint64{"io": 0}},
		{name: "host interrupts kept by L0, INTR synthesized for G1",
			nested: map[string]uint64{"io": 100, "interrupt": 5}, inject: map[string]uint64{"io": 100, "interrupt": 3},
			reflected: 100, handled: 5, synthesized: 3, handledBy: map[string]uint64{"io": 0, "interrupt": 5}},
		{name: "VMX mmio: G2's EPT violations given to G1 as EPT misconfigurations",
			nested:    map[string]uint64{"EPT_VIOLATION": 101, "EXTERNAL_INTERRUPT": 2},
			inject:    map[string]uint64{"EPT_MISCONFIG": 100, "EPT_VIOLATION": 1, "EXTERNAL_INTERRUPT": 2},
			reflected: 101, handled: 2, synthesized: 2, handledBy: map[string]uint64{"EPT_VIOLATION": 0, "EXTERNAL_INTERRUPT": 2}},
		{name: "VMX pf: half the EPT violations reflected, half handled by L0",
			nested: map[string]uint64{"EPT_VIOLATION": 800}, inject: map[string]uint64{"EPT_VIOLATION": 400},
			reflected: 400, handled: 400, handledBy: map[string]uint64{"EPT_VIOLATION": 400}},
		{name: "VMX hlt: the preemption timer is L0's at G2's exit, and made up for G1",
			nested: map[string]uint64{"HLT": 100, "PREEMPTION_TIMER": 650}, inject: map[string]uint64{"HLT": 100, "PREEMPTION_TIMER": 646},
			reflected: 100, handled: 650, synthesized: 646, handledBy: map[string]uint64{"HLT": 0, "PREEMPTION_TIMER": 650}},
		{name: "a misconfiguration with no violation behind it is synthesized",
			nested: map[string]uint64{"IO_INSTRUCTION": 10}, inject: map[string]uint64{"IO_INSTRUCTION": 10, "EPT_MISCONFIG": 1},
			reflected: 10, synthesized: 1, handledBy: map[string]uint64{"IO_INSTRUCTION": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, h, s, by := splitNested(tt.nested, tt.inject)
			assert.Equal(t, tt.reflected, r, "reflected")
			assert.Equal(t, tt.handled, h, "handled")
			assert.Equal(t, tt.synthesized, s, "synthesized")
			assert.Equal(t, tt.handledBy, by)
			var nested, inject uint64
			for _, n := range tt.nested {
				nested += n
			}
			for _, n := range tt.inject {
				inject += n
			}
			assert.Equal(t, nested, r+h, "reflected + handled = G2's exits")
			assert.Equal(t, inject, r+s, "reflected + synthesized = injected")
		})
	}
}
