package lab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fastslow/fastslow/eval/metrics"
	"github.com/fastslow/fastslow/eval/pretrain"
	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/prompts"
	"github.com/fastslow/fastslow/weights"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/train"
)

// ModeNotes keeps the facts as notes in a prompt store and retrieves one into the context of each question.
const ModeNotes = "notes"

// Forms of a note.
const (
	NoteSentence = "sentence" // the sentence of a biography that states the fact, as in pretraining's in-context documents
	NoteQA       = "qa"       // the question and its answer, as the fast channel stores a fact (prompt, space, answer)
)

// CapacityOptions configure Capacity. Zero fields take the defaults documented on each.
type CapacityOptions struct {
	// Base is the model. ModeFull trains its weights in place and restores them before each next run, so
	// nothing else may use it meanwhile.
	Base *weights.Model
	// World is the synthetic world the model was pretrained on; the facts are its new people's (then, past
	// 7 per new person, people of a second world, seeded apart, whose names clash with no one's).
	World world.Options
	// Seeds is the number of seeds (default 3); each draws its own facts, adapter and data order.
	Seeds int
	// Sizes are the numbers of facts to learn (default 10, 40, 160: a few minutes for every experiment of
	// `fastslow lab`; the knee of the default adapter lies beyond, see --sizes).
	Sizes []int
	// Modes compared (default ModeLoRA, ModeFull, ModeNotes).
	Modes []string
	// Epochs is how many times training sees each fact (default 8): the steps of a run grow with its size.
	// BatchSize defaults to 8; LR to 3e-3 for LoRA and 1e-3 for full fine-tuning; LoRA shapes the adapter
	// (default weights.DefaultLoRA).
	Epochs    int
	BatchSize int
	LoRALR    float64
	FullLR    float64
	LoRA      llama.LoRAConfig
	// General is the number of pretraining facts (about known people, in a fill-in-the-blank wording no
	// run trains, as GeneralProbe) asked for general ability, both answered and probed for likelihood
	// (default 40); Prose is held-out text for perplexity (default HeldOutProse, 4 passages; none if the
	// prose cannot be found).
	General int
	Prose   []string
	// Notes is how many notes are retrieved into each question's context, best first (default 1).
	// NoteForm is how a note states its fact: NoteQA (default) or NoteSentence.
	Notes    int
	NoteForm string
	// Dir holds the note stores (default a temporary directory, removed afterwards).
	Dir string
	// Log, if set, receives progress lines.
	Log func(format string, args ...any)
}

func (o *CapacityOptions) defaults(ctx context.Context, w *world.World) error {
	if o.Base == nil {
		return errors.New("capacity: a base model is required")
	}
	o.Seeds = cmp.Or(o.Seeds, 3)
	if len(o.Sizes) == 0 {
		o.Sizes = []int{10, 40, 160}
	}
	if len(o.Modes) == 0 {
		o.Modes = []string{ModeLoRA, ModeFull, ModeNotes}
	}
	o.Epochs = cmp.Or(o.Epochs, 8)
	o.BatchSize = cmp.Or(o.BatchSize, 8)
	o.LoRALR = cmp.Or(o.LoRALR, 3e-3)
	o.FullLR = cmp.Or(o.FullLR, 1e-3)
	if o.LoRA.Rank == 0 {
		o.LoRA = weights.DefaultLoRA
	}
	o.General = cmp.Or(o.General, 40)
	if o.Prose == nil {
		o.Prose, _ = HeldOutProse(ctx, w, 4) // without the book, perplexity is left out
	}
	o.Notes = cmp.Or(o.Notes, 1)
	o.NoteForm = cmp.Or(o.NoteForm, NoteQA)
	if o.NoteForm != NoteSentence && o.NoteForm != NoteQA {
		return fmt.Errorf("capacity: note form %q: want %s or %s", o.NoteForm, NoteSentence, NoteQA)
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Seeds < 0 || o.Notes < 0 || o.General < 0 || o.Epochs < 1 || o.BatchSize < 1 {
		return errors.New("capacity: seeds, epochs and batch size must be positive")
	}
	o.Sizes = slices.Clone(o.Sizes)
	slices.Sort(o.Sizes)
	if o.Sizes[0] < 1 {
		return fmt.Errorf("capacity: size %d: want at least one fact", o.Sizes[0])
	}
	for _, m := range o.Modes {
		if m != ModeLoRA && m != ModeFull && m != ModeNotes {
			return fmt.Errorf("capacity: mode %q: want %s, %s or %s", m, ModeLoRA, ModeFull, ModeNotes)
		}
	}
	return nil
}

// CapacityRun is one mode, size and seed.
type CapacityRun struct {
	Seed int    `json:"seed"`
	Mode string `json:"mode"`
	N    int    `json:"n"`
	// Recall is the share of the N facts answered right (greedy, first line equal to the value).
	Recall float64 `json:"recall"`
	// Bits is the information recalled, corrected for chance: for each attribute with V values in the world,
	// n·log2(V)·(recall − 1/V)/(1 − 1/V) over its n facts, so a model guessing uniformly scores 0 bits (and
	// below chance, negative) and a perfect one log2(V) bits per fact.
	Bits float64 `json:"bits"`
	// FactBits is the information in all N facts: the sum of log2(V) over them.
	FactBits float64 `json:"fact_bits"`
	// Params is the number of trained parameters (0 for notes), Steps the optimizer steps.
	Params int `json:"params"`
	Steps  int `json:"steps"`
	// Retrieval is, for notes, the share of questions whose top note states their own fact.
	Retrieval float64 `json:"retrieval,omitempty"`
	// General ability after learning the facts: pretraining-fact accuracy (first line of the answer, as
	// pretrain.Correct: a fill-in-the-blank continuation goes on with the sentence) and held-out prose
	// perplexity (before: CapacityResult.GeneralBefore and PPLBefore).
	General float64 `json:"general"`
	PPL     float64 `json:"ppl"`
	// GeneralKnown is the share of the pretraining facts whose right value the likelihood probe still ranks
	// above 9 other values of the attribute (fewer in a tiny world): whether lost answers are lost knowledge.
	GeneralKnown float64 `json:"general_known"`
	Seconds      float64 `json:"seconds"`
}

// CapacityResult is everything Capacity measured.
type CapacityResult struct {
	Sizes         []int         `json:"sizes"`
	Modes         []string      `json:"modes"`
	Notes         int           `json:"notes"`
	NoteForm      string        `json:"note_form"`
	Epochs        int           `json:"epochs"`
	LoRARank      int           `json:"lora_rank"`
	GeneralBefore float64       `json:"general_before"`
	KnownBefore   float64       `json:"general_known_before"`
	PPLBefore     float64       `json:"ppl_before"`
	Runs          []CapacityRun `json:"runs"`
	Seconds       float64       `json:"seconds"`
}

// Capacity measures how many new facts fit (Allen-Zhu and Li, Physics of Language Models 3.3, find about 2
// bits per parameter at the limit): N facts learned into the weights (a LoRA adapter, or every weight) for
// growing N, against the same facts kept as notes and retrieved into the context, with recall and the change
// of general ability at each N.
func Capacity(ctx context.Context, opt CapacityOptions) (*CapacityResult, error) {
	if opt.Base == nil {
		return nil, errors.New("capacity: a base model is required")
	}
	w, err := world.New(opt.World)
	if err != nil {
		return nil, fmt.Errorf("capacity: %w", err)
	}
	if err := opt.defaults(ctx, w); err != nil {
		return nil, err
	}
	start := time.Now()
	dir, done, err := workDir(opt.Dir, "fastslow-capacity-")
	if err != nil {
		return nil, err
	}
	defer done()
	m := opt.Base
	res := &CapacityResult{Sizes: opt.Sizes, Modes: opt.Modes, Notes: opt.Notes, NoteForm: opt.NoteForm, Epochs: opt.Epochs, LoRARank: opt.LoRA.Rank}
	gen, err := generalFacts(w, opt.General)
	if err != nil {
		return nil, err
	}
	if res.GeneralBefore, res.KnownBefore, err = generalAbility(ctx, m, gen, nil); err != nil {
		return nil, err
	}
	if res.PPLBefore, _, err = prose(m, opt.Prose, nil); err != nil {
		return nil, err
	}
	people, err := factPeople(w, (opt.Sizes[len(opt.Sizes)-1]+6)/7)
	if err != nil {
		return nil, err
	}
	values := valuePool(append(append([]world.Person(nil), w.Known...), people...))
	for seed := 1; seed <= opt.Seeds; seed++ {
		rng := rand.New(rand.NewPCG(uint64(seed), 0xca9))
		ps := slices.Clone(people)
		rng.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
		all := factsOf(ps)
		for _, n := range opt.Sizes {
			for _, mode := range opt.Modes {
				run, err := capacityRun(ctx, opt, dir, mode, all[:n], values, gen, seed)
				if err != nil {
					return nil, fmt.Errorf("capacity: %s, %d facts, seed %d: %w", mode, n, seed, err)
				}
				run.N = n
				opt.Log("capacity seed %d %-5s %4d facts: recall %.2f, general %.2f → %.2f (%d steps, %.0fs)",
					seed, mode, n, run.Recall, res.GeneralBefore, run.General, run.Steps, run.Seconds)
				res.Runs = append(res.Runs, run)
			}
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// factPeople returns n people the model never saw: the world's new people, then people of a second world
// whose names clash with none of the first.
func factPeople(w *world.World, n int) ([]world.Person, error) {
	out := slices.Clone(w.Newcomers)
	if n <= len(out) {
		return out[:n], nil
	}
	taken := map[string]bool{}
	for _, p := range append(slices.Clone(w.Known), w.Newcomers...) {
		taken[p.Name()] = true
	}
	need := n - len(out)
	aux, err := world.New(world.Options{Seed: w.Options().Seed + 7919, Known: need + need/4 + 8, Newcomers: 5})
	if err != nil {
		return nil, fmt.Errorf("capacity: more people: %w", err)
	}
	for _, p := range aux.Known {
		if len(out) < n && !taken[p.Name()] {
			taken[p.Name()] = true
			out = append(out, p)
		}
	}
	if len(out) < n {
		return nil, fmt.Errorf("capacity: only %d people free of name clashes, %d wanted", len(out), n)
	}
	return out, nil
}

func capacityRun(ctx context.Context, opt CapacityOptions, dir, mode string, fs []fact, values map[world.Attribute][]string, gen generalSet, seed int) (CapacityRun, error) {
	start := time.Now()
	m := opt.Base
	run := CapacityRun{Seed: seed, Mode: mode}
	ex := examplesOf(fs)
	var a *llama.Adapter
	var ok []bool
	var err error
	switch mode {
	case ModeNotes:
		if ok, run.Retrieval, err = noteRecall(ctx, m, filepath.Join(dir, fmt.Sprintf("%s-%d-s%d", mode, len(fs), seed)), fs, opt.Notes, opt.NoteForm, seed); err != nil {
			return run, err
		}
	default:
		var obj train.Objective
		lr := opt.LoRALR
		if mode == ModeFull {
			restore := snapshotBase(m.Model)
			defer restore()
			obj, lr = train.FullObjective(m.Model), opt.FullLR
		} else {
			if a, err = llama.NewAdapter(m.Model, opt.LoRA, uint64(seed)); err != nil {
				return run, err
			}
			obj = train.LoRAObjective(m.Model, a)
		}
		for _, p := range obj.Params() {
			run.Params += len(p.Data)
		}
		run.Steps = (opt.Epochs*len(fs) + opt.BatchSize - 1) / opt.BatchSize
		if err := fit(ctx, m, obj, pairsOf(ex), fitOptions(run.Steps, opt.BatchSize, lr, uint64(seed)), nil); err != nil {
			return run, err
		}
		if ok, err = answers(ctx, m, ex, a); err != nil {
			return run, err
		}
	}
	run.Recall = share(ok)
	run.Bits, run.FactBits = recalledBits(fs, ok, values)
	if run.General, run.GeneralKnown, err = generalAbility(ctx, m, gen, a); err != nil {
		return run, err
	}
	if run.PPL, _, err = prose(m, opt.Prose, a); err != nil {
		return run, err
	}
	run.Seconds = time.Since(start).Seconds()
	return run, nil
}

// noteRecall keeps each fact as a note in a prompt store (in the given form), and answers each question with
// the k notes BM25 retrieves for it placed before the question, as the model met facts in context in
// pretraining. It returns which answers are right and the share of questions whose
// retrieved notes state the answer.
func noteRecall(ctx context.Context, m *weights.Model, dir string, fs []fact, k int, form string, seed int) ([]bool, float64, error) {
	st, err := prompts.Open(dir, &prompts.Options{Small: true})
	if err != nil {
		return nil, 0, err
	}
	defer st.Close()
	const task = "capacity"
	if _, err := st.CreateTask(ctx, prompts.Task{Name: task}); err != nil {
		return nil, 0, err
	}
	notes := make([]prompts.Note, len(fs))
	for i, f := range fs {
		s := f.prompt() + " " + f.value()
		if form == NoteSentence {
			if s, err = pretrain.FactSentence(f.person, f.attr, seed+i); err != nil {
				return nil, 0, err
			}
		}
		notes[i] = prompts.Note{Text: s}
	}
	added, err := st.AddNotes(ctx, task, notes)
	if err != nil {
		return nil, 0, err
	}
	text := map[uint64]string{}
	for _, n := range added {
		text[n.ID] = n.Text
	}
	ex := make([]world.Example, len(fs))
	hit := 0
	for i, f := range fs {
		q, _ := world.Question(f.person, f.attr, 0)
		hits, err := st.Search(ctx, task, prompts.KindNote, q, k)
		if err != nil {
			return nil, 0, err
		}
		ex[i] = f.example()
		context := make([]string, len(hits))
		for j, h := range hits {
			context[j] = text[h.ID]
		}
		if len(context) > 0 {
			c := strings.Join(context, " ")
			ex[i].Prompt = c + "\n" + ex[i].Prompt
			if strings.Contains(c, f.value()) {
				hit++
			}
		}
	}
	ok, err := answers(ctx, m, ex, nil)
	return ok, float64(hit) / float64(len(fs)), err
}

// generalSet is the pretraining facts general ability is measured on, as questions and as probe items.
type generalSet struct {
	ex    []world.Example
	items []ProbeItem
}

// generalFacts picks n facts about known people evenly over people and attributes, as GeneralProbe does,
// asked in fill-in-the-blank wording 1, with 9 distractors each (fewer in a tiny world).
func generalFacts(w *world.World, n int) (generalSet, error) {
	var g generalSet
	attrs := world.Attributes()
	total := len(w.Known) * len(attrs)
	step := max(1, total/max(n, 1))
	var fs []fact
	for i := 0; len(fs) < n && i < total; i += step {
		fs = append(fs, fact{w.Known[i/len(attrs)], attrs[i%len(attrs)]})
	}
	pool := valuePool(w.Known)
	k := 9 // fewer in a world too small to have 9 other values of an attribute
	for _, vs := range pool {
		k = min(k, len(vs)-1)
	}
	if k < 1 {
		return g, errors.New("capacity: the world's people share every value of an attribute: nothing to probe against")
	}
	items, err := probeItems(fs, pool, k, rand.New(rand.NewPCG(uint64(n), 0x9e4)))
	if err != nil {
		return g, err
	}
	for i, f := range fs {
		prompt, err := world.Cloze(f.person, f.attr, 1)
		if err != nil {
			return g, err
		}
		items[i].Prompt = prompt
		g.ex = append(g.ex, world.Example{Prompt: prompt, Completion: " " + f.value(), Answer: f.value()})
	}
	g.items = items
	return g, nil
}

// generalAbility answers the general facts with adapter a (nil: the model as it is) and probes them: the
// share answered right (the first line of the answer, as pretrain.Correct, since a fill-in-the-blank
// continuation goes on with the sentence) and the share whose value still ranks first.
func generalAbility(ctx context.Context, m *weights.Model, g generalSet, a *llama.Adapter) (acc, known float64, err error) {
	if len(g.ex) == 0 {
		return 0, 0, nil
	}
	ok, err := answers(ctx, m, g.ex, a)
	if err != nil {
		return 0, 0, err
	}
	rs, err := Probe(ctx, ModelScorer(m, a), g.items)
	if err != nil {
		return 0, 0, err
	}
	return share(ok), KnownShare(rs), nil
}

// recalledBits is the chance-corrected information in the right answers ok[i] to facts fs[i] (see
// CapacityRun.Bits), and the information in all of the facts.
func recalledBits(fs []fact, ok []bool, values map[world.Attribute][]string) (bits, total float64) {
	type tally struct{ right, n int }
	by := map[world.Attribute]*tally{}
	for i, f := range fs {
		t := by[f.attr]
		if t == nil {
			t = &tally{}
			by[f.attr] = t
		}
		t.n++
		if ok[i] {
			t.right++
		}
	}
	for attr, t := range by {
		v := len(values[attr])
		if v < 2 {
			continue // one possible value: no information
		}
		total += float64(t.n) * math.Log2(float64(v))
		c, err := metrics.ChanceCorrected(float64(t.right)/float64(t.n), 1/float64(v))
		if err != nil {
			continue
		}
		bits += float64(t.n) * math.Log2(float64(v)) * c
	}
	return bits, total
}
