package peft_test

import (
	"maps"
	"math"
	"slices"
	"testing"

	"github.com/fastslow/fastslow/weights/peft"
)

// FuzzReadSafetensors feeds arbitrary bytes to ReadSafetensors: it must return an error or tensors whose
// shapes account for their values, never panic; what it reads must survive WriteSafetensors and a second
// read bit for bit, with the same shapes and metadata. The committed corpus (testdata/fuzz/FuzzReadSafetensors) holds small valid files of each
// float dtype and broken ones (truncated, bad offsets, bad JSON, an integer dtype).
func FuzzReadSafetensors(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, meta, err := peft.ReadSafetensors(data)
		if err != nil {
			return
		}
		for name, x := range ts {
			n := 1
			for _, d := range x.Shape {
				n *= d
			}
			if n != len(x.Data) {
				t.Fatalf("%s: shape %v but %d values", name, x.Shape, len(x.Data))
			}
		}
		// WriteSafetensors takes only non-empty shapes with positive dimensions.
		for name, x := range ts {
			if len(x.Data) == 0 || len(x.Shape) == 0 {
				delete(ts, name)
			}
		}
		out, err := peft.WriteSafetensors(ts, meta)
		if err != nil {
			t.Fatalf("write back: %v", err)
		}
		again, meta2, err := peft.ReadSafetensors(out)
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		if !maps.Equal(meta, meta2) {
			t.Fatalf("metadata %q became %q", meta, meta2)
		}
		if len(again) != len(ts) {
			t.Fatalf("wrote %d tensors, read back %d", len(ts), len(again))
		}
		for name, x := range ts {
			y, ok := again[name]
			if !ok || !slices.Equal(x.Shape, y.Shape) || len(x.Data) != len(y.Data) {
				t.Fatalf("%s: shape %v became %v (%t)", name, x.Shape, y.Shape, ok)
			}
			for i := range x.Data {
				if math.Float32bits(x.Data[i]) != math.Float32bits(y.Data[i]) {
					t.Fatalf("%s[%d]: %g became %g", name, i, x.Data[i], y.Data[i])
				}
			}
		}
	})
}
