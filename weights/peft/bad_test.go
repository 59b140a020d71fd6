package peft_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastslow/fastslow/internal/hffixture"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/peft"
)

// copyAdapter copies a fixture's PEFT directory into a temporary one, applying editConfig to its
// adapter_config.json (as a map) and editWeights to the bytes of adapter_model.safetensors.
func copyAdapter(t *testing.T, from string, editConfig func(map[string]any), editWeights func([]byte) []byte) string {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(from, peft.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if editConfig != nil {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		editConfig(m)
		if b, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, peft.ConfigFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := os.ReadFile(filepath.Join(from, peft.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if editWeights != nil {
		w = editWeights(w)
	}
	if err := os.WriteFile(filepath.Join(dir, peft.WeightsFile), w, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// editTensors decodes the safetensors bytes, applies edit and encodes them again.
func editTensors(t *testing.T, edit func(map[string]peft.Tensor)) func([]byte) []byte {
	return func(b []byte) []byte {
		ts, meta, err := peft.ReadSafetensors(b)
		if err != nil {
			t.Fatal(err)
		}
		edit(ts)
		out, err := peft.WriteSafetensors(ts, meta)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
}

const qA = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"

// TestBadInput imports broken or mismatched adapters: each gives one error that names the problem, and no
// adapter.
func TestBadInput(t *testing.T) {
	ll, err := hffixture.Load(llama.ArchLlama)
	if err != nil {
		t.Fatal(err)
	}
	qw, err := hffixture.Load(llama.ArchQwen2)
	if err != nil {
		t.Fatal(err)
	}
	otherArchGGUF := filepath.Join(t.TempDir(), "qwen2-lora.gguf")
	// A qwen2 adapter whose every matrix has the llama base's shape: only the architecture tells them apart.
	same, err := llama.NewAdapter(qw.Model, llama.LoRAConfig{Rank: 4, Alpha: 8, Targets: []string{"attn_q", "attn_v"}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	writeConverterGGUF(t, otherArchGGUF, llama.ArchQwen2, same, 0)
	cases := []struct {
		name string
		path string
		want string
		is   error
	}{
		{"wrong shape", copyAdapter(t, ll.AdapterDir, nil, editTensors(t, func(ts map[string]peft.Tensor) {
			x := ts[qA]
			ts[qA] = peft.Tensor{DType: "F32", Shape: []int{8, 32}, Data: x.Data[:8*32]}
		})), "wrong shape: " + qA + " is [8 32], the base model's blk.0.attn_q.weight needs [8 64]", peft.ErrMismatch},
		{"base of another architecture (PEFT)", qw.AdapterDir, "wrong shape", peft.ErrMismatch},
		{"base of another architecture (GGUF)", otherArchGGUF, `adapter is for architecture "qwen2", the base model is "llama"`, nil},
		{"unknown target module", copyAdapter(t, ll.AdapterDir, func(m map[string]any) {
			m["target_modules"] = []string{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"}
		}, nil), `unknown target module "lm_head"`, nil},
		{"truncated safetensors", copyAdapter(t, ll.AdapterDir, nil, func(b []byte) []byte { return b[:len(b)-100] }),
			"adapter_model.safetensors: not a whole, valid safetensors file", peft.ErrSafetensors},
		{"config rank differs from tensors", copyAdapter(t, ll.AdapterDir, func(m map[string]any) { m["r"] = 4 }, nil),
			"config does not match tensors: " + qA + " has shape [8 64], rank 4 in the config (r) needs [4 64]", peft.ErrMismatch},
		{"config lists fewer modules than tensors", copyAdapter(t, ll.AdapterDir, func(m map[string]any) {
			m["target_modules"] = []string{"q_proj", "v_proj"}
		}, nil), "config does not match tensors: base_model.model.model.layers.0.mlp.down_proj.lora_A.weight adapts down_proj of layer 0", peft.ErrMismatch},
		{"config lists more modules than tensors", copyAdapter(t, qw.AdapterDir, func(m map[string]any) {
			m["target_modules"] = []string{"q_proj", "k_proj", "v_proj", "o_proj", "down_proj", "up_proj"}
		}, nil), "config does not match tensors: target module up_proj has no tensors", peft.ErrMismatch},
		{"tensor without partner", copyAdapter(t, ll.AdapterDir, nil, editTensors(t, func(ts map[string]peft.Tensor) {
			delete(ts, strings.Replace(qA, "lora_A", "lora_B", 1))
		})), "tensor " + qA + " has no partner", peft.ErrMismatch},
		{"layer the base lacks", copyAdapter(t, ll.AdapterDir, nil, editTensors(t, func(ts map[string]peft.Tensor) {
			for _, ab := range []string{"lora_A", "lora_B"} {
				n := "base_model.model.model.layers.0.self_attn.q_proj." + ab + ".weight"
				ts[strings.Replace(n, "layers.0", "layers.7", 1)] = ts[n]
			}
		})), "adapts layer 7, the base model has 2 layers", peft.ErrMismatch},
		{"DoRA", copyAdapter(t, ll.AdapterDir, func(m map[string]any) { m["use_dora"] = true }, nil), "use_dora", nil},
		{"not a LoRA", copyAdapter(t, ll.AdapterDir, func(m map[string]any) { m["peft_type"] = "IA3" }, nil), `peft_type "IA3"`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, _, err := peft.Import(tc.path, ll.Model)
			if err == nil {
				t.Fatal("imported without error")
			}
			if a != nil {
				t.Error("an adapter came back with the error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nwant it to say %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
			t.Log(err)
		})
	}
}
