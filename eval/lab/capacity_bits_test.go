package lab

import (
	"math"
	"testing"

	"github.com/fastslow/fastslow/eval/world"
)

// TestRecalledBits checks the chance correction: guessing at chance earns no bits, all right earns log2(V) per
// fact, and below chance is negative.
func TestRecalledBits(t *testing.T) {
	values := map[world.Attribute][]string{world.Color: {"red", "blue", "green", "white"}, world.Major: {"law", "art"}}
	facts := func(attr world.Attribute, n int) []fact {
		out := make([]fact, n)
		for i := range out {
			out[i].attr = attr
		}
		return out
	}
	four := facts(world.Color, 4)
	for _, c := range []struct {
		name string
		fs   []fact
		ok   []bool
		want float64
	}{
		{"all right", four, []bool{true, true, true, true}, 8},
		{"chance", four, []bool{true, false, false, false}, 0},
		{"none", four, []bool{false, false, false, false}, -4 * 2 * (0.25 / 0.75)},
		{"half of two values", facts(world.Major, 2), []bool{true, false}, 0},
	} {
		bits, total := recalledBits(c.fs, c.ok, values)
		if math.Abs(bits-c.want) > 1e-12 || total != float64(len(c.fs))*math.Log2(float64(len(values[c.fs[0].attr]))) {
			t.Errorf("%s: bits %g (want %g), total %g", c.name, bits, c.want, total)
		}
	}
}
