package peft_test

import (
	"math"
	"testing"

	"github.com/fastslow/fastslow/internal/hffixture"
	"github.com/fastslow/fastslow/weights/peft"
)

// relTol is the largest difference allowed between the engine's logits and PyTorch's, relative to the
// largest PyTorch logit.
const relTol = 1e-4

// relErr returns max|got−want| / max|want|.
func relErr(got, want []float32) float64 {
	var d, s float64
	for i := range want {
		d = max(d, math.Abs(float64(got[i])-float64(want[i])))
		s = max(s, math.Abs(float64(want[i])))
	}
	return d / s
}

// TestPyTorchReference imports the PEFT adapters that make_fixture.py wrote with PyTorch (llama with all
// seven projections in F32; qwen2 with five, rsLoRA, in BF16) and checks that the engine's logits, with the
// adapter and without, equal PyTorch's float64 reference.
func TestPyTorchReference(t *testing.T) {
	for _, arch := range hffixture.Archs {
		t.Run(arch, func(t *testing.T) {
			f, err := hffixture.Load(arch)
			if err != nil {
				t.Fatal(err)
			}
			base, err := f.Model.Logits(f.Tokens, nil)
			if err != nil {
				t.Fatal(err)
			}
			if e := relErr(base, f.BaseLogits); e > relTol {
				t.Fatalf("base logits differ from PyTorch's by %.3g relative (tolerance %g): the base conversion is wrong", e, relTol)
			}
			a, cfg, err := peft.Load(f.AdapterDir, f.Model)
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.Model.Logits(f.Tokens, a)
			if err != nil {
				t.Fatal(err)
			}
			e := relErr(got, f.Logits)
			t.Logf("%s: r=%d alpha=%g rslora=%v targets %v: logits relative error %.3g (base %.3g); the adapter moves them by %.3g relative",
				arch, cfg.R, cfg.LoraAlpha, cfg.UseRSLoRA, a.Config.Targets, e, relErr(base, f.BaseLogits), relErr(f.BaseLogits, f.Logits))
			if e > relTol {
				t.Errorf("adapted logits differ from PyTorch's by %.3g relative, tolerance %g", e, relTol)
			}
			if moved := relErr(f.BaseLogits, f.Logits); moved < 100*relTol {
				t.Errorf("the adapter moves the logits by only %.3g relative: the comparison cannot tell it from none", moved)
			}
		})
	}
}
