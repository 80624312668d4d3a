package misc

// Null is a quiet range of ports or MMIO: reads return a fixed byte, writes
// are dropped. It exists so that ports guests are known to poke at are
// claimed, counted in bus statistics, and not reported as unhandled.
// It implements devices.Device and devices.Named.
type Null struct {
	name string
	fill byte
}

// NewNull returns a Null whose reads return fill in every byte: 0xff for
// "no device here" (what an empty ISA bus floats to), 0 for a register
// that exists but says nothing.
func NewNull(name string, fill byte) *Null {
	return &Null{name: name, fill: fill}
}

// Name implements devices.Named.
func (n *Null) Name() string { return n.name }

// Read implements devices.Device.
func (n *Null) Read(offset uint64, data []byte) {
	for i := range data {
		data[i] = n.fill
	}
}

// Write implements devices.Device; the data is dropped.
func (n *Null) Write(offset uint64, data []byte) {}
