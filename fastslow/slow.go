package fastslow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastslow/fastslow/internal/atomicfile"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

// AdapterVersion is one promoted state of the slow channel: an adapter file, where it is served, and the
// evidence it was promoted on.
type AdapterVersion struct {
	Seq    int       `json:"seq"`
	Path   string    `json:"path"`             // adapter GGUF, relative to the channel's directory
	Handle string    `json:"handle"`           // what the server generates with
	Digest string    `json:"digest,omitempty"` // the server's digest of the deployed model, if it keeps models
	Task   string    `json:"task"`
	Steps  int       `json:"steps"`          // optimizer steps of the round that made it
	Loss   float64   `json:"loss,omitempty"` // final training loss of that round
	Before float64   `json:"retention_before"`
	After  float64   `json:"retention_after"`
	Note   string    `json:"note,omitempty"`
	Time   time.Time `json:"time"`
	// Unmeasured says why the round's forgetting was not measured (no retention set of held-out examples,
	// or no budget); Before and After are then 0, not a measurement.
	Unmeasured string `json:"unmeasured,omitempty"`
	// Mode is how the version is served: DeployAdapter (also "" in manifests written before merged
	// deploys existed) or DeployMerged.
	Mode DeployMode `json:"mode,omitempty"`
	// Merged is a merged version's GGUF, relative to the channel's directory ("" once pruned: see
	// DeployOptions.Keep), MergedBytes its size and MergedType how its adapted tensors are encoded.
	Merged      string             `json:"merged,omitempty"`
	MergedBytes int64              `json:"merged_bytes,omitempty"`
	MergedType  weights.MergedType `json:"merged_type,omitempty"`
}

// slowState is the channel's manifest on disk.
type slowState struct {
	Versions []AdapterVersion `json:"versions"`
	Current  int              `json:"current"` // Seq of the served version; 0 is the base model alone
}

// SlowOptions shape a slow-channel round. Start from DefaultSlowOptions: zero values mean zero.
type SlowOptions struct {
	// LoRA is the adapter's shape (default weights.DefaultLoRA). Once a channel has an adapter, a round with
	// another shape is refused: roll back to the base (version 0) to train a new one.
	LoRA llama.LoRAConfig
	// Steps is the most optimizer steps of a round (default 60); Chunk steps run between forgetting checks
	// (0: one check, after all steps). One optimizer (its AdamW moments) serves the whole round, and the next
	// round of the same version carries on with it (after a restart or a rollback to the version too; an
	// adopted adapter starts a fresh one).
	Steps, Chunk int
	// BatchSize and LR of the optimizer (defaults 8 and 5e-3).
	BatchSize int
	LR        float64
	// Budget is the largest drop of retention accuracy a round may cause (0.05 = five points); a negative
	// Budget turns the check off. The round keeps the last chunk within budget.
	Budget float64
	// Seed makes rounds reproducible.
	Seed uint64
	// WeightDecay is AdamW's decoupled weight decay of the LoRA factors: it pulls A and B, so the adapter's
	// change B·A, toward zero, that is the adapted weights toward the base's (an L2-to-base regularizer, the
	// continual-learning baseline). 0 turns it off.
	WeightDecay float64
	// FreezeBelow, when positive, keeps the adapter of blocks 0..FreezeBelow−1 at zero: only the upper blocks
	// learn (the frozen-lower-blocks baseline). It shapes a new adapter only; an adapter's later rounds keep it.
	FreezeBelow int
	// Recompute and MemLimit bound a round's memory as weights.LoRAOptions does: per-block recomputation
	// always, or when a step's estimate does not fit MemLimit bytes (0: no limit); a round that does not fit
	// even so is refused before training.
	Recompute bool
	MemLimit  int64
	// AfterChunk, if set, sees the adapter after every kept chunk and the round's steps so far: a hook for
	// learning curves.
	AfterChunk func(ctx context.Context, a *llama.Adapter, steps int) error
}

// DefaultSlowOptions returns the default shape of a slow-channel round.
func DefaultSlowOptions() SlowOptions {
	return SlowOptions{LoRA: weights.DefaultLoRA, Steps: 60, BatchSize: 8, LR: 5e-3, Budget: 0.05}
}

// validate reports the first option that cannot work.
func (o SlowOptions) validate() error {
	switch {
	case o.Steps < 1:
		return fmt.Errorf("slow channel: %d steps per round; a round needs at least one", o.Steps)
	case o.Chunk < 0:
		return fmt.Errorf("slow channel: negative chunk %d", o.Chunk)
	case o.BatchSize < 1:
		return fmt.Errorf("slow channel: batch size %d", o.BatchSize)
	case !(o.LR > 0):
		return fmt.Errorf("slow channel: learning rate %g must be positive", o.LR)
	case !(o.WeightDecay >= 0) || math.IsInf(o.WeightDecay, 1):
		return fmt.Errorf("slow channel: weight decay %g must be finite and non-negative", o.WeightDecay)
	case o.FreezeBelow < 0:
		return fmt.Errorf("slow channel: negative FreezeBelow %d", o.FreezeBelow)
	case o.MemLimit < 0:
		return fmt.Errorf("slow channel: negative memory limit %d", o.MemLimit)
	}
	if err := o.LoRA.Validate(); err != nil {
		return fmt.Errorf("slow channel: %w", err)
	}
	return nil
}

// SlowChannel trains one LoRA adapter of the base model round by round and keeps every promoted version on
// disk, with its evidence, so any can be served again (rollback). It is safe for concurrent use; rounds run
// one at a time.
type SlowChannel struct {
	base   *weights.Model
	dir    string
	server Server
	name   string

	round sync.Mutex // serializes rounds and adoptions; neither serving nor a rollback waits for it
	// commit serializes the changes of the served version: a rollback, and a round's promotion once its
	// version is deployed. It is never held while training.
	commit sync.Mutex
	mu     sync.Mutex // guards state, adapter, moments and rollbacks, held only briefly
	state  slowState
	// rollbacks counts rollbacks: a round that began before one is not promoted (its result, trained from
	// the version served before the rollback, is discarded).
	rollbacks uint64
	adapter   *llama.Adapter // the current version's weights, trained further by the next round
	// moments is AdamW's state after the round that made the current version, which the next round carries
	// on from (nil: a fresh optimizer); it is kept on disk beside the version's adapter (slow_moments.go).
	moments *train.OptimizerState
	served  atomic.Pointer[weights.Model] // the current version's merged model, nil when an adapter is served
	deploy  atomic.Pointer[DeployOptions] // how new versions are served (SetDeploy); nil: the default
}

// OpenSlowChannel opens (or creates) the channel stored in dir. name distinguishes this channel's models on the
// server. The current version is deployed again if the server does not have it.
func OpenSlowChannel(ctx context.Context, base *weights.Model, dir, name string, server Server) (*SlowChannel, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("slow channel: %w", err)
	}
	s := &SlowChannel{base: base, dir: dir, server: server, name: name}
	data, err := os.ReadFile(s.manifest())
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("slow channel: %w", err)
	default:
		if err := json.Unmarshal(data, &s.state); err != nil {
			return nil, fmt.Errorf("slow channel: %s: %w", s.manifest(), err)
		}
	}
	if v, ok := s.version(s.state.Current); ok {
		a, err := weights.LoadAdapter(filepath.Join(dir, v.Path), base.Model)
		if err != nil {
			return nil, fmt.Errorf("slow channel: current version %d: %w", v.Seq, err)
		}
		s.adapter = a
		if s.moments, err = loadMoments(s.momentsPath(v), a); err != nil {
			return nil, fmt.Errorf("slow channel: current version %d: %w", v.Seq, err)
		}
		served, err := s.redeploy(ctx, v, a)
		if err != nil {
			return nil, err
		}
		s.served.Store(served)
	}
	return s, nil
}

func (s *SlowChannel) manifest() string { return filepath.Join(s.dir, "adapters.json") }

func (s *SlowChannel) version(seq int) (AdapterVersion, bool) {
	for _, v := range s.state.Versions {
		if v.Seq == seq {
			return v, true
		}
	}
	return AdapterVersion{}, false
}

// redeploy makes sure the server has v, whose adapter is a (a server restarted since, or the in-process
// engine of a new process), as it was made: its adapter, or its merged model (checked against the adapter, or
// merged again if it was pruned), which it returns. It refuses to replace a model of the same name that
// another learner made.
func (s *SlowChannel) redeploy(ctx context.Context, v AdapterVersion, a *llama.Adapter) (*weights.Model, error) {
	name := s.versionName(v.Seq)
	have, err := s.modelDigest(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("slow channel: deploy version %d: %w", v.Seq, err)
	}
	if have != "" && v.Digest != "" && have != v.Digest {
		return nil, fmt.Errorf("slow channel: deploy version %d: %w", v.Seq, s.taken(name))
	}
	merged := v.Merged
	h, served, err := s.redeployVersion(ctx, &v, a)
	if err != nil {
		return nil, fmt.Errorf("slow channel: deploy version %d: %w", v.Seq, err)
	}
	d, err := s.modelDigest(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("slow channel: deploy version %d: %w", v.Seq, err)
	}
	if h != v.Handle || d != v.Digest || merged != v.Merged {
		s.mu.Lock()
		defer s.mu.Unlock()
		next := s.state
		next.Versions = slices.Clone(s.state.Versions)
		for i := range next.Versions {
			if next.Versions[i].Seq == v.Seq {
				next.Versions[i].Handle, next.Versions[i].Digest = h, d
				next.Versions[i].Merged, next.Versions[i].MergedBytes = v.Merged, v.MergedBytes
			}
		}
		if err := s.save(next); err != nil {
			return nil, err
		}
		s.state = next
	}
	return served, nil
}

// ErrModelTaken means the server already has a model under a name the slow channel was about to deploy, and
// this channel did not make it: another learner with the same Name, or state that was lost.
var ErrModelTaken = errors.New("the server has a model of that name that this learner did not make")

func (s *SlowChannel) taken(name string) error {
	return fmt.Errorf("%w: %s (give each learner its own Options.Name, or leave it empty to derive one from the state directory; remove the model from the server if it is stale)", ErrModelTaken, name)
}

// modelDigest asks a server whose models outlive the process (Ollama) for the digest of the model deployed
// under version name, "" when there is none; other servers have no such models.
func (s *SlowChannel) modelDigest(ctx context.Context, name string) (string, error) {
	if d, ok := s.server.(interface {
		ModelDigest(ctx context.Context, version string) (string, error)
	}); ok {
		return d.ModelDigest(ctx, name)
	}
	return "", nil
}

func (s *SlowChannel) versionName(seq int) string {
	return fmt.Sprintf("%s-v%04d", s.name, seq)
}

// Current returns the served version, or false when the base model is served alone.
func (s *SlowChannel) Current() (AdapterVersion, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version(s.state.Current)
}

// Versions returns every version made, oldest first.
func (s *SlowChannel) Versions() []AdapterVersion {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AdapterVersion(nil), s.state.Versions...)
}

// Handle is what to generate with on the server: the current version's handle, or "" for the base.
func (s *SlowChannel) Handle() string {
	v, _ := s.Current()
	return v.Handle
}

// Adapter returns the current adapter (nil for the base alone). Callers must not modify it.
func (s *SlowChannel) Adapter() *llama.Adapter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.adapter
}

// ErrNoRetentionSet is what a Retention returns when it has nothing to measure on: no example held out from
// the round's training that the model should keep answering. The round is then trained without a
// forgetting check, and its version says so (AdapterVersion.Unmeasured).
var ErrNoRetentionSet = errors.New("no held-out examples to measure forgetting on")

// Retention measures what must not be forgotten: a share of correct answers in [0, 1] of model m with adapter
// a (nil: m alone). m is the base, or for a merged deploy the merged model, exactly as served.
type Retention func(ctx context.Context, m *weights.Model, a *llama.Adapter) (float64, error)

// SlowRound reports one training round.
type SlowRound struct {
	Version  AdapterVersion
	Promoted bool
	Steps    int // optimizer steps kept
	Tried    int // optimizer steps run
	Losses   []float64
	Reason   string // why the round stopped early or was not promoted
	// Mode is how the round's version is (or would have been) served, ModeReason why auto chose it.
	Mode       DeployMode
	ModeReason string
}

// Train runs one round on pairs: up to opt.Steps steps with one optimizer, checking retention after every
// opt.Chunk steps and keeping the last state within opt.Budget. The result is written, deployed and only then
// promoted.
func (s *SlowChannel) Train(ctx context.Context, task string, pairs []weights.Pair, retention Retention, opt SlowOptions, progress func(train.Progress)) (SlowRound, error) {
	s.round.Lock()
	defer s.round.Unlock()
	var round SlowRound
	if err := opt.validate(); err != nil {
		return round, err
	}
	s.mu.Lock()
	current, moments, rollbacks := s.adapter, s.moments, s.rollbacks
	s.mu.Unlock()
	mode, why := s.roundMode(ctx)
	a, err := s.workingAdapter(current, opt)
	if err != nil {
		return round, err
	}
	seqs, err := weights.Sequences(s.base, pairs)
	if err != nil {
		return round, fmt.Errorf("slow channel: %w", err)
	}
	check := retention != nil && opt.Budget >= 0
	before := 0.0
	var unmeasured string
	if check {
		m, sa := s.servedScoring()
		before, err = retention(ctx, m, sa)
		switch {
		case errors.Is(err, ErrNoRetentionSet):
			check, before, unmeasured = false, 0, err.Error()
		case err != nil:
			return round, fmt.Errorf("slow channel: retention: %w", err)
		}
	} else {
		unmeasured = "no forgetting budget in this round"
	}
	after := before
	kept := snapshot(a)
	chunk := opt.Chunk
	if chunk == 0 || chunk > opt.Steps {
		chunk = opt.Steps
	}
	hook := func(ctx context.Context, done int) error {
		round.Tried = done
		if check {
			m, sa, err := s.scoring(ctx, a, mode)
			if err != nil {
				return fmt.Errorf("retention: %w", err)
			}
			r, err := retention(ctx, m, sa)
			if err != nil {
				return fmt.Errorf("retention: %w", err)
			}
			if before-r > opt.Budget {
				restore(a, kept)
				round.Reason = fmt.Sprintf("retention fell from %.3f to %.3f after %d steps, over the budget of %.3f; kept %d steps",
					before, r, done, opt.Budget, round.Steps)
				return train.ErrStop
			}
			after = r
		}
		kept = snapshot(a)
		round.Steps = done
		if opt.AfterChunk != nil {
			return opt.AfterChunk(ctx, a, done)
		}
		return nil
	}
	to := train.Options{
		Steps: opt.Steps, BatchSize: opt.BatchSize, LR: opt.LR, Decay: train.DecayConstant, ClipNorm: 1,
		Seed: opt.Seed, Hook: hook, HookEvery: chunk, WeightDecay: opt.WeightDecay,
	}
	if current != nil {
		to.Optimizer = moments // the optimizer carries on across rounds, as across chunks
	}
	shape, _, err := weights.StepMemory(s.base, seqs, weights.LoRAOptions{Adapter: a, Train: to, Recompute: opt.Recompute, MemLimit: opt.MemLimit})
	if err != nil {
		return round, fmt.Errorf("slow channel: %w", err)
	}
	ws := &llama.Workspace{Recompute: shape.Recompute, LossChunk: shape.LossChunk}
	res, err := train.Run(ctx, train.LoRAObjectiveIn(s.base.Model, a, ws), seqs, to, progress)
	round.Losses = res.Losses
	if err != nil {
		return round, fmt.Errorf("slow channel: %w", err)
	}
	if round.Steps == 0 {
		if round.Reason == "" {
			round.Reason = "no steps"
		}
		return round, nil
	}
	round.Mode, round.ModeReason = mode, why
	round.Version.Unmeasured = unmeasured
	round, err = s.promote(ctx, task, a, round, before, after, rollbacks, res.Optimizer)
	if round.Promoted && res.Optimizer != nil {
		if serr := saveMoments(s.momentsPath(round.Version), res.Optimizer); serr != nil {
			err = errors.Join(err, fmt.Errorf("slow channel: version %d promoted, but its optimizer state was not saved: %w", round.Version.Seq, serr))
		}
	}
	return round, err
}

// promote writes a, deploys it and makes it the current version, with moments as the optimizer the next round
// carries on from — unless a rollback came since the round began (rollbacks is the count it began with):
// then the round is discarded, deployed files and models removed, and says so in its Reason. The caller
// holds s.round, so only a rollback changes the state meanwhile.
func (s *SlowChannel) promote(ctx context.Context, task string, a *llama.Adapter, round SlowRound, before, after float64, rollbacks uint64, moments *train.OptimizerState) (SlowRound, error) {
	s.mu.Lock()
	cur := s.state
	s.mu.Unlock()
	seq := 1
	if n := len(cur.Versions); n > 0 {
		seq = cur.Versions[n-1].Seq + 1
	}
	v := AdapterVersion{
		Seq: seq, Path: fmt.Sprintf("adapter-%04d.gguf", seq), Task: task, Steps: round.Steps,
		Before: before, After: after, Unmeasured: round.Version.Unmeasured, Time: time.Now().UTC(),
	}
	if len(round.Losses) > 0 {
		v.Loss = round.Losses[min(round.Steps, len(round.Losses))-1]
	}
	name := s.versionName(seq)
	if have, err := s.modelDigest(ctx, name); err != nil {
		return round, fmt.Errorf("slow channel: deploy: %w", err)
	} else if have != "" {
		return round, fmt.Errorf("slow channel: deploy: %w", s.taken(name))
	}
	path := filepath.Join(s.dir, v.Path)
	if err := weights.SaveAdapter(path, a, name); err != nil {
		return round, fmt.Errorf("slow channel: %w", err)
	}
	mode := round.Mode
	if mode == "" {
		mode, round.ModeReason = s.roundMode(ctx)
	}
	undo := func() {
		if v.Handle != "" {
			_ = s.server.Remove(ctx, v.Handle)
		}
		os.Remove(path)
		if v.Merged != "" {
			os.Remove(filepath.Join(s.dir, v.Merged))
		}
	}
	var (
		err    error
		served *weights.Model
	)
	if v.Handle, served, err = s.deployNew(ctx, &v, a, mode); err != nil {
		undo()
		return round, fmt.Errorf("slow channel: deploy: %w", err)
	}
	round.Mode = v.Mode
	if v.Digest, err = s.modelDigest(ctx, name); err != nil {
		undo()
		return round, fmt.Errorf("slow channel: deploy: %w", err)
	}
	s.commit.Lock()
	defer s.commit.Unlock()
	s.mu.Lock()
	cur, rolled := s.state, s.rollbacks != rollbacks
	s.mu.Unlock()
	if rolled {
		undo()
		round.Mode = ""
		round.Reason = fmt.Sprintf("rolled back to %s while the round ran; its result, trained from the version served before, is discarded", seqName(cur.Current))
		return round, nil
	}
	next := cur
	next.Versions = append(append([]AdapterVersion(nil), cur.Versions...), v)
	next.Current = seq
	perr := s.prune(ctx, &next)
	if err := s.save(next); err != nil {
		undo()
		return round, err
	}
	s.mu.Lock()
	s.state, s.adapter, s.moments = next, a, moments
	s.served.Store(served)
	s.mu.Unlock()
	round.Version, round.Promoted = v, true
	if perr != nil {
		return round, fmt.Errorf("slow channel: version %d promoted, but older merged versions were not all removed: %w", seq, perr)
	}
	return round, nil
}

// workingAdapter is a copy of the current adapter to train further, or a new one of opt's shape. A shape
// other than the current adapter's is refused: training it would silently drop what the adapter learned.
func (s *SlowChannel) workingAdapter(current *llama.Adapter, opt SlowOptions) (*llama.Adapter, error) {
	if current == nil {
		a, err := llama.NewAdapter(s.base.Model, opt.LoRA, opt.Seed)
		if err != nil {
			return nil, fmt.Errorf("slow channel: %w", err)
		}
		freezeBelow(a, opt.FreezeBelow)
		return a, nil
	}
	a, err := llama.NewAdapter(s.base.Model, current.Config, 0)
	if err != nil {
		return nil, fmt.Errorf("slow channel: %w", err)
	}
	if err := sameShape(s.base.Model, a, opt.LoRA); err != nil {
		return nil, fmt.Errorf("slow channel: %w; roll back to version 0 (the base) to train an adapter of the new shape", err)
	}
	restore(a, snapshot(current))
	return a, nil
}

// freezeBelow zeroes both factors of the adapter of every block below n. With A and B zero their gradients are
// zero too (dL/dB = g·(A·x)ᵀ, dL/dA = Bᵀ·g·xᵀ), so AdamW, weight decay and clipping leave them at zero: the
// block stays exactly the base's.
func freezeBelow(a *llama.Adapter, n int) {
	for l := range n {
		prefix := fmt.Sprintf("blk.%d.", l)
		for _, p := range a.Params() {
			if strings.HasPrefix(p.Name, prefix) {
				clear(p.Data)
			}
		}
	}
}

// sameShape reports whether an adapter of shape c would have a's rank, alpha and tensors.
func sameShape(m *llama.Model, a *llama.Adapter, c llama.LoRAConfig) error {
	have := a.Config
	if c.Rank != have.Rank || c.Alpha != have.Alpha {
		return fmt.Errorf("the current adapter has rank %d and alpha %g, the options ask for rank %d and alpha %g",
			have.Rank, have.Alpha, c.Rank, c.Alpha)
	}
	want, err := llama.NewAdapter(m, c, 0)
	if err != nil {
		return err
	}
	names := func(a *llama.Adapter) []string {
		var out []string
		for _, p := range a.Params() {
			out = append(out, p.Name)
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(names(a), names(want)) {
		return fmt.Errorf("the current adapter targets %s, the options ask for %s", strings.Join(have.Targets, ","), strings.Join(c.Targets, ","))
	}
	return nil
}

// Rollback serves version seq again (0 is the base alone). It does not wait for a round that is running: that
// round's result is discarded when it ends (its SlowRound says so, Promoted false), since it was trained from
// the version served before the rollback. The next round trains from seq.
func (s *SlowChannel) Rollback(ctx context.Context, seq int) error {
	s.commit.Lock()
	defer s.commit.Unlock()
	var a *llama.Adapter
	var served *weights.Model
	var moments *train.OptimizerState
	if seq != 0 {
		s.mu.Lock()
		v, ok := s.version(seq)
		have := s.seqList()
		s.mu.Unlock()
		if !ok {
			return fmt.Errorf("rollback: no adapter version %d (have %s)", seq, have)
		}
		var err error
		if a, err = weights.LoadAdapter(filepath.Join(s.dir, v.Path), s.base.Model); err != nil {
			return fmt.Errorf("rollback: %w", err)
		}
		if moments, err = loadMoments(s.momentsPath(v), a); err != nil {
			return fmt.Errorf("rollback: %w", err)
		}
		if served, err = s.redeploy(ctx, v, a); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.state
	next.Current = seq
	if err := s.save(next); err != nil {
		return err
	}
	s.state, s.adapter, s.moments = next, a, moments
	s.rollbacks++
	s.served.Store(served)
	return nil
}

// seqName names version seq in words.
func seqName(seq int) string {
	if seq == 0 {
		return "the base model"
	}
	return fmt.Sprintf("version %d", seq)
}

func (s *SlowChannel) seqList() string {
	if len(s.state.Versions) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, v := range s.state.Versions {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, v.Seq)
	}
	return b.String()
}

func (s *SlowChannel) save(st slowState) error {
	err := atomicfile.WriteFile(s.manifest(), 0o644, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	})
	if err != nil {
		return fmt.Errorf("slow channel: save %s: %w", s.manifest(), err)
	}
	return nil
}

func snapshot(a *llama.Adapter) [][]float32 {
	ps := a.Params()
	out := make([][]float32, len(ps))
	for i, p := range ps {
		out[i] = append([]float32(nil), p.Data...)
	}
	return out
}

func restore(a *llama.Adapter, snap [][]float32) {
	for i, p := range a.Params() {
		copy(p.Data, snap[i])
	}
}
