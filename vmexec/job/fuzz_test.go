package job

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
)

// jsonLine encodes j without Check, as a hostile or broken host might.
func jsonLine(j Job) ([]byte, error) {
	b, err := json.Marshal(j)
	return append(b, '\n'), err
}

// FuzzRead feeds the guest's job reader arbitrary bytes: it must return a
// checked job or an error, never panic, and a job it accepts must encode
// again.
func FuzzRead(f *testing.F) {
	good, err := Encode(validJob())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"args":["sh"],"dir":"/","root":{"tag":"gonest.root","transport":"virtiofs","submounts":["/tmp"]}}` + "\n"))
	f.Add(append(good, EncodeControl(Control{Signal: 2})...))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(data), 64)
		j, err := Read(r)
		if err != nil {
			return
		}
		if _, err := Encode(j); err != nil {
			t.Fatalf("Read accepted a job Encode refuses: %v", err)
		}
		for range 4 {
			if _, err := ReadControl(r); err != nil {
				return
			}
		}
	})
}
