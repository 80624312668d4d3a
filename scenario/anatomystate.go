package scenario

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/gonest/gonest/kvm"
	"github.com/gonest/gonest/launch"
)

// stateSummary is what H's live readings of G1's nested state showed.
type stateSummary struct {
	readings   int    // readings with the state read
	idle       int    // of which no vCPU was in guest mode
	guest      int    // of which a vCPU was in guest mode
	address    uint64 // vmcb12 or vmcs12 of the first reading in guest mode
	format     string // "SVM" or "VMX"
	header     string // that reading's header line
	unreadable int    // readings whose raw state did not decode
	// raw is that reading's state as KVM returned it (kvm_nested_state,
	// header included).
	raw []byte
	// vmx is that reading's VMXON region and vmcs12, on VMX; nil on SVM,
	// or when the state held no vmcs12.
	vmx *vmxReading
}

// vmxReading is what G1's KVM had set up for G2, from a VMX nested state
// in guest mode.
type vmxReading struct {
	vmxon  uint64     // kvm_vmx_nested_state_hdr.vmxon_pa: G1's VMXON region
	vmcs12 kvm.VMCS12 // G1's current VMCS, as KVM synced it from vmcs02
}

// summarizeStates reads the live readings of H's gonest.
func summarizeStates(st *launch.Stats) stateSummary {
	var s stateSummary
	if st == nil {
		return s
	}
	for _, c := range st.NestedStates {
		read, guest := false, false
		for _, v := range c.VCPUs {
			if v.Raw == "" {
				continue
			}
			read = true
			raw, err := base64.StdEncoding.DecodeString(v.Raw)
			var ns *kvm.NestedState
			if err == nil {
				ns, err = kvm.ParseNestedState(raw)
			}
			if err != nil {
				s.unreadable++
				continue
			}
			if !ns.GuestMode() {
				continue
			}
			guest = true
			if s.guest == 0 && s.raw == nil {
				if err := s.first(v.Text, ns); err != nil {
					s.unreadable++
				}
			}
		}
		switch {
		case guest:
			s.guest++
		case read:
			s.idle++
		}
		if read {
			s.readings++
		}
	}
	return s
}

// first keeps the first reading in guest mode.
func (s *stateSummary) first(text string, ns *kvm.NestedState) error {
	s.header, s.raw = text, ns.Raw
	switch {
	case ns.SVM != nil:
		s.format, s.address = "SVM", ns.SVM.VMCBPA
	case ns.VMX != nil:
		s.format, s.address = "VMX", ns.VMX.VMCS12PA
		d, err := ns.VMXData()
		if err != nil {
			return err
		}
		if d != nil {
			s.vmx = &vmxReading{vmxon: ns.VMX.VMXONPA, vmcs12: d.VMCS12}
		}
	}
	return nil
}

// Metric names of the nested-state summary (ResultAnatomyState). The
// State* VMX names are vmcs12's fields (and the VMXON region's address)
// in the first reading in guest mode; absent on SVM.
const (
	StateReadings = "readings"
	StateIdle     = "not_in_guest_mode"
	StateGuest    = "in_guest_mode"
	StateAddress  = "vmcb12_or_vmcs12"
	// StateVMX is 1 when that reading was in VMX format.
	StateVMX             = "vmx"
	StateVMXON           = "vmxon"
	StateVMCS12Revision  = "vmcs12_revision"
	StateLaunched        = "vmcs12_launched"
	StatePinBased        = "pin_based_controls"
	StateProcBased       = "proc_based_controls"
	StateProcBased2      = "secondary_controls"
	StateExceptionBitmap = "exception_bitmap"
	StateEPTP            = "eptp"
)

func (s stateSummary) metrics() map[string]float64 {
	m := map[string]float64{StateReadings: float64(s.readings), StateIdle: float64(s.idle), StateGuest: float64(s.guest),
		StateAddress: float64(s.address)}
	if s.format == "VMX" {
		m[StateVMX] = 1
	}
	if v := s.vmx; v != nil {
		launched := 0.0
		if v.vmcs12.Launched() {
			launched = 1
		}
		m[StateVMXON], m[StateVMCS12Revision], m[StateLaunched] = float64(v.vmxon), float64(v.vmcs12.RevisionID), launched
		m[StatePinBased], m[StateProcBased], m[StateProcBased2] = float64(v.vmcs12.PinBased), float64(v.vmcs12.ProcBased), float64(v.vmcs12.ProcBased2)
		m[StateExceptionBitmap], m[StateEPTP] = float64(v.vmcs12.ExceptionBitmap), float64(v.vmcs12.EPTPointer)
	}
	return m
}

func (s stateSummary) text() string {
	if s.guest == 0 {
		return fmt.Sprintf("%d live readings of G1's nested state, %d with no vCPU in guest mode, none in guest mode", s.readings, s.idle)
	}
	return fmt.Sprintf("%d live readings of G1's nested state, %d with no vCPU in guest mode, %d in guest mode: %s",
		s.readings, s.idle, s.guest, s.header)
}

// problems lists what the readings lack: one with no vCPU in guest mode
// (G1 before its first G2) and one in guest mode with a vmcb12 or vmcs12
// address (during the spin loop), and on VMX with vmcs12 itself.
func (s stateSummary) problems() []string {
	var p []string
	if s.idle == 0 {
		p = append(p, "no live reading found G1 outside guest mode (the one before G1 started its guests)")
	}
	if s.guest == 0 {
		p = append(p, "no live reading caught G1 in guest mode during G2's spin loop")
	}
	if s.guest > 0 && (s.address == 0 || s.address == ^uint64(0)) {
		p = append(p, fmt.Sprintf("G1 in guest mode with no %s address: %s", s.format, s.header))
	}
	if s.guest > 0 && s.format == "VMX" && s.vmx == nil {
		p = append(p, "G1 in guest mode, but its VMX nested state holds no vmcs12: "+s.header)
	}
	if s.unreadable > 0 {
		p = append(p, fmt.Sprintf("%d nested states did not decode", s.unreadable))
	}
	return p
}

// rawText is the first reading in guest mode as KVM returned it, gzipped
// and in base64 (a few hundred characters: the state is mostly zeros),
// for a decoder's tests to keep; "" when there is none.
func (s stateSummary) rawText() string {
	if s.raw == nil {
		return ""
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write(s.raw) // a bytes.Buffer takes every write
	_ = zw.Close()
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// liveReadingLines picks from gonest's output (cmd/gonest, -nested-state
// on SIGUSR1) what H's console shows of the live readings: every line
// gonest starts with "gonest:" (each reading's heading, and any warning),
// each vCPU's state, the line saying no vCPU was in guest mode, and the
// decoded vmcb12 or vmcs12 (the indented lines) of the first reading in
// guest mode and of the first outside it that has one. The window tables
// are left out.
func liveReadingLines(out string) []string {
	var keep []string
	detail, guest, shownGuest, shownL1 := false, false, false, false
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "nested state vcpu "):
			guest = strings.Contains(l, " guest mode: ")
			detail = (guest && !shownGuest) || (!guest && !shownL1)
			keep = append(keep, l)
		case strings.HasPrefix(l, "  "):
			if !detail {
				continue
			}
			keep = append(keep, l)
			if guest {
				shownGuest = true
			} else {
				shownL1 = true
			}
		case strings.HasPrefix(l, "gonest:"), strings.HasPrefix(l, "no vCPU was in guest mode"):
			detail = false
			keep = append(keep, l)
		default:
			detail = false
		}
	}
	return keep
}
