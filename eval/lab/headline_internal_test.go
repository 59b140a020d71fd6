package lab

import (
	"testing"

	"github.com/fastslow/fastslow/fastslow"
)

// TestHeadlineSetting: the headline's "lr × steps/task" column gives each weight-training arm its setting and
// shows "–" for the arms that train no weights, the prompts policy's per-task variant included.
func TestHeadlineSetting(t *testing.T) {
	prompts := fastslow.PolicyPrompts.Name()
	for _, tc := range []struct{ arm, want string }{
		{"fst", "0.002 × 10"},
		{"fst" + PerTaskSuffix, "0.002 × 10"},
		{prompts, "–"},
		{prompts + PerTaskSuffix, "–"},
	} {
		st := map[string]*armStats{tc.arm: {avg: []float64{0.5}, forget: []float64{0}, bwt: []float64{0}, lr: 0.002, stepsPerTask: 10}}
		sec := (&StreamResult{}).headlineSection([]string{tc.arm}, st, map[string]float64{})
		if len(sec.Tables) == 0 || len(sec.Tables[0].Rows) != 1 {
			t.Fatalf("%s: headline section %+v", tc.arm, sec)
		}
		if got := sec.Tables[0].Rows[0][1]; got != tc.want {
			t.Errorf("%s: setting %q, want %q", tc.arm, got, tc.want)
		}
	}
}
