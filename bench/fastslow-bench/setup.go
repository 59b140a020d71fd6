package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/fastslow/fastslow/internal/ollamamod"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/tokenizer"
)

// benchConfig is the model, the adapter and the workload both sides run; it is written to config.json, which
// the Go worker and torchref.py read.
type benchConfig struct {
	Vocab    int     `json:"vocab"`
	Dim      int     `json:"dim"`
	Hidden   int     `json:"hidden"`
	Layers   int     `json:"layers"`
	Heads    int     `json:"heads"`
	KVHeads  int     `json:"kv_heads"`
	RopeBase float32 `json:"rope_base"`
	NormEps  float32 `json:"norm_eps"`
	SeqMax   int     `json:"seq_max"` // the model's context length
	Rank     int     `json:"rank"`
	Alpha    float32 `json:"alpha"`
	Batch    int     `json:"batch"`
	Seq      int     `json:"seq"`

	Tensors     []tensorEntry `json:"tensors"`      // where each tensor sits in weights.bin
	ScoreSeqs   [][]int32     `json:"score_seqs"`   // sequences timed for forward scoring
	SgemmShapes []sgemmShape  `json:"sgemm_shapes"` // products timed against OpenBLAS
}

// tensorEntry locates one tensor in weights.bin: Shape is [rows, cols] of the row-major matrix (or [n]).
type tensorEntry struct {
	Name   string `json:"name"`
	Shape  []int  `json:"shape"`
	Offset int    `json:"offset"` // in floats
}

// sgemmShape is one product C[m][n] = op(A)·op(B) with k inner steps.
type sgemmShape struct {
	Name    string `json:"name"`
	M, N, K int
	TA      bool `json:"ta"`
	TB      bool `json:"tb"`
}

// MarshalJSON writes the sizes in lower case, as torchref.py reads them.
func (s sgemmShape) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"name": s.Name, "m": s.M, "n": s.N, "k": s.K, "ta": s.TA, "tb": s.TB})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *sgemmShape) UnmarshalJSON(b []byte) error {
	var v struct {
		Name    string `json:"name"`
		M, N, K int
		TA      bool `json:"ta"`
		TB      bool `json:"tb"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = sgemmShape(v)
	return nil
}

func (c *benchConfig) llamaConfig() llama.Config {
	return llama.Config{Vocab: c.Vocab, Dim: c.Dim, Hidden: c.Hidden, Layers: c.Layers, Heads: c.Heads,
		KVHeads: c.KVHeads, ContextLength: c.SeqMax, RopeBase: c.RopeBase, NormEps: c.NormEps}
}

func (c *benchConfig) loraConfig() llama.LoRAConfig {
	return llama.LoRAConfig{Rank: c.Rank, Alpha: c.Alpha,
		Targets: []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}}
}

// shapes lists the products of a training step of c, as the model runs them: forward y = x·Wᵀ (Bᵀ stored
// rows), input gradient dx = dy·W and weight gradient dW = dyᵀ·x, at the batch's row count.
func (c *benchConfig) shapes() []sgemmShape {
	t := c.Batch * c.Seq
	kv := c.Dim / c.Heads * c.KVHeads
	return []sgemmShape{
		{Name: fmt.Sprintf("fwd attn_q %dx%dx%d", t, c.Dim, c.Dim), M: t, N: c.Dim, K: c.Dim, TB: true},
		{Name: fmt.Sprintf("fwd attn_k %dx%dx%d", t, kv, c.Dim), M: t, N: kv, K: c.Dim, TB: true},
		{Name: fmt.Sprintf("fwd ffn_gate %dx%dx%d", t, c.Hidden, c.Dim), M: t, N: c.Hidden, K: c.Dim, TB: true},
		{Name: fmt.Sprintf("fwd ffn_down %dx%dx%d", t, c.Dim, c.Hidden), M: t, N: c.Dim, K: c.Hidden, TB: true},
		{Name: fmt.Sprintf("fwd output %dx%dx%d", t, c.Vocab, c.Dim), M: t, N: c.Vocab, K: c.Dim, TB: true},
		{Name: fmt.Sprintf("dx ffn_gate %dx%dx%d", t, c.Dim, c.Hidden), M: t, N: c.Dim, K: c.Hidden},
		{Name: fmt.Sprintf("dx ffn_down %dx%dx%d", t, c.Hidden, c.Dim), M: t, N: c.Hidden, K: c.Dim},
		{Name: fmt.Sprintf("dW ffn_gate %dx%dx%d", c.Hidden, c.Dim, t), M: c.Hidden, N: c.Dim, K: t, TA: true},
	}
}

// files of a benchmark directory.
const (
	configFile  = "config.json"
	weightsFile = "weights.bin"
	tokensFile  = "tokens.bin"
	goGradsFile = "go_grads.bin"
	ggufFile    = "model.gguf"
)

// setup builds the benchmark model and writes everything both sides need into dir: the configuration, the
// weights of the model and of a LoRA adapter whose B is not zero (so the cross-check covers the whole LoRA
// branch), the training batch, the scoring sequences, and the model as a GGUF for Ollama.
func setup(ctx context.Context, dir string, c *benchConfig, scoreLen, scoreSeqs int) (tokenizer.Tokenizer, error) {
	text, err := corpus()
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Train(ctx, []string{text}, tokenizer.TrainOptions{VocabSize: c.Vocab})
	if err != nil {
		return nil, fmt.Errorf("train tokenizer: %w", err)
	}
	if tok.Size() != c.Vocab {
		return nil, fmt.Errorf("tokenizer reached %d tokens, want %d", tok.Size(), c.Vocab)
	}
	m, err := llama.New(c.llamaConfig())
	if err != nil {
		return nil, err
	}
	m.InitRandom(1, 0.05)
	a, err := llama.NewAdapter(m, c.loraConfig(), 2)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, p := range a.Params() {
		if strings.HasSuffix(p.Name, ".lora_b") {
			for i := range p.Data {
				p.Data[i] = float32(rng.NormFloat64() * 0.05)
			}
		}
	}

	// The training batch: token windows of the corpus, so the loss is that of real text.
	ids := tok.Encode(text, false)
	need := c.Batch*c.Seq + scoreSeqs*scoreLen
	if len(ids) < need {
		return nil, fmt.Errorf("corpus has %d tokens, need %d", len(ids), need)
	}
	batch := ids[:c.Batch*c.Seq]
	c.ScoreSeqs = nil
	for i := range scoreSeqs {
		off := c.Batch*c.Seq + i*scoreLen
		c.ScoreSeqs = append(c.ScoreSeqs, ids[off:off+scoreLen])
	}
	c.SgemmShapes = c.shapes()

	var all []float32
	c.Tensors = nil
	for _, p := range append(m.Tensors(), a.Params()...) {
		shape := []int{len(p.Data)}
		if len(p.Shape) == 2 {
			shape = []int{p.Shape[1], p.Shape[0]}
		}
		c.Tensors = append(c.Tensors, tensorEntry{Name: p.Name, Shape: shape, Offset: len(all)})
		all = append(all, p.Data...)
	}
	if err := writeLE(filepath.Join(dir, weightsFile), all); err != nil {
		return nil, err
	}
	if err := writeLE(filepath.Join(dir, tokensFile), batch); err != nil {
		return nil, err
	}
	js, err := json.MarshalIndent(c, "", " ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, configFile), js, 0o644); err != nil {
		return nil, err
	}
	return tok, weights.Save(filepath.Join(dir, ggufFile), m, tok, weights.SaveOptions{Name: "fastslow-bench"})
}

// corpus returns real prose to tokenize: War and Peace, from the Ollama module's test data.
func corpus() (string, error) {
	path, err := ollamamod.Testdata("war-and-peace.txt")
	if err != nil {
		return "", fmt.Errorf("corpus (run from the fastslow repository, whose go.mod names the Ollama module): %w", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("corpus: %w", err)
	}
	return string(b), nil
}

// loadBench reads a benchmark directory back: the configuration, the model and the adapter with the
// weights setup wrote, and the training batch.
func loadBench(dir string) (*benchConfig, *llama.Model, *llama.Adapter, [][]int32, error) {
	b, err := os.ReadFile(filepath.Join(dir, configFile))
	if err != nil {
		return nil, nil, nil, nil, err
	}
	var c benchConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("%s: %w", configFile, err)
	}
	m, err := llama.New(c.llamaConfig())
	if err != nil {
		return nil, nil, nil, nil, err
	}
	a, err := llama.NewAdapter(m, c.loraConfig(), 2)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	all, err := readLE[float32](filepath.Join(dir, weightsFile))
	if err != nil {
		return nil, nil, nil, nil, err
	}
	params := map[string]*llama.Param{}
	for _, p := range append(m.Tensors(), a.Params()...) {
		params[p.Name] = p
	}
	for _, t := range c.Tensors {
		p, ok := params[t.Name]
		if !ok {
			return nil, nil, nil, nil, fmt.Errorf("%s: unknown tensor %q", weightsFile, t.Name)
		}
		if t.Offset < 0 || t.Offset+len(p.Data) > len(all) {
			return nil, nil, nil, nil, fmt.Errorf("%s: tensor %q outside the file", weightsFile, t.Name)
		}
		copy(p.Data, all[t.Offset:])
		delete(params, t.Name)
	}
	if len(params) > 0 {
		return nil, nil, nil, nil, fmt.Errorf("%s: %d tensors missing", weightsFile, len(params))
	}
	ids, err := readLE[int32](filepath.Join(dir, tokensFile))
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if len(ids) != c.Batch*c.Seq {
		return nil, nil, nil, nil, fmt.Errorf("%s: %d tokens, want %d", tokensFile, len(ids), c.Batch*c.Seq)
	}
	batch := make([][]int32, c.Batch)
	for i := range batch {
		batch[i] = ids[i*c.Seq : (i+1)*c.Seq]
	}
	return &c, m, a, batch, nil
}

// writeLE writes v to path as little-endian 4-byte words.
func writeLE[T float32 | int32](path string, v []T) error {
	b, err := binary.Append(make([]byte, 0, 4*len(v)), binary.LittleEndian, v)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, b, 0o644)
}

// readLE reads the little-endian 4-byte words writeLE wrote.
func readLE[T float32 | int32](path string) ([]T, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("%s: size %d not a multiple of 4", path, len(b))
	}
	v := make([]T, len(b)/4)
	if _, err := binary.Decode(b, binary.LittleEndian, v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}
