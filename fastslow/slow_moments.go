package fastslow

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/fastslow/fastslow/weights/gguf"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

// A version's optimizer state (AdamW's step count and moments after the round that made it) is kept beside
// its adapter, so the next round carries on with the same optimizer after a restart or a rollback too: a
// GGUF file with key adamw.step and two float32 tensors per adapter tensor, "<name>.adam_m" and
// "<name>.adam_v".

// momentsKey is the metadata key of the optimizer's step count.
const momentsKey = "adamw.step"

// momentsPath returns where version v's optimizer state is kept.
func (s *SlowChannel) momentsPath(v AdapterVersion) string {
	return filepath.Join(s.dir, strings.TrimSuffix(v.Path, ".gguf")+".adamw.gguf")
}

// saveMoments writes st to path.
func saveMoments(path string, st *train.OptimizerState) error {
	w := gguf.NewWriter()
	if err := w.Set(momentsKey, uint64(st.Step)); err != nil {
		return err
	}
	for name, m := range st.M {
		v := st.V[name]
		for _, t := range []struct {
			suffix string
			data   []float32
		}{{".adam_m", m}, {".adam_v", v}} {
			if err := w.AddTensor(name+t.suffix, gguf.TypeF32, []uint64{uint64(len(t.data))}, t.data); err != nil {
				return fmt.Errorf("optimizer state %s: %w", name, err)
			}
		}
	}
	if err := w.WriteFile(path); err != nil {
		return fmt.Errorf("optimizer state: %w", err)
	}
	return nil
}

// loadMoments reads the optimizer state of adapter a from path; a missing file is no state (nil, nil).
func loadMoments(path string, a *llama.Adapter) (*train.OptimizerState, error) {
	f, err := gguf.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("optimizer state: %w", err)
	}
	defer f.Close()
	v, _ := f.Meta.Get(momentsKey)
	step, ok := v.(uint64)
	if !ok {
		return nil, fmt.Errorf("optimizer state %s: no %s", path, momentsKey)
	}
	st := &train.OptimizerState{Step: int(step), M: map[string][]float32{}, V: map[string][]float32{}}
	for _, p := range a.Params() {
		for _, t := range []struct {
			suffix string
			into   map[string][]float32
		}{{".adam_m", st.M}, {".adam_v", st.V}} {
			vals, err := f.Float32s(p.Name + t.suffix)
			if err != nil {
				return nil, fmt.Errorf("optimizer state %s: %w", path, err)
			}
			if len(vals) != len(p.Data) {
				return nil, fmt.Errorf("optimizer state %s: %s%s has %d values, the adapter %d", path, p.Name, t.suffix, len(vals), len(p.Data))
			}
			t.into[p.Name] = vals
		}
	}
	return st, nil
}
