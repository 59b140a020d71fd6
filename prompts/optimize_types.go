package prompts

import (
	"context"
	"sync"
	"time"
)

// The optimizer's vocabulary: runners and proposers, runs, iterations and events.

// Runner runs a rendered prompt on one instance and scores the answer. The
// core implements it over Ollama; tests use deterministic runners.
type Runner interface {
	Run(ctx context.Context, prompt Rendered, inst Instance) (Outcome, error)
}

// Outcome is the result of one rollout.
type Outcome struct {
	Output string `json:"output"`
	// Score is in [0, 1]; 1 is a perfect answer.
	Score float64 `json:"score"`
	// Feedback says what was wrong (a verifier's message, an expected
	// answer), for proposers to learn from.
	Feedback string `json:"feedback,omitempty"`
}

// Trial is an instance with its outcome under a candidate.
type Trial struct {
	Instance Instance `json:"instance"`
	Outcome  Outcome  `json:"outcome"`
	// Feedback is the id of the feedback record stored for this trial.
	Feedback uint64 `json:"feedback,omitempty"`
}

// Proposer proposes a child of a candidate from its trials on a minibatch.
type Proposer interface {
	// Name identifies the proposer in candidates and run records.
	Name() string
	// Propose returns a delta to the parent. An empty proposal means the
	// proposer has nothing to suggest.
	Propose(ctx context.Context, in ProposeInput) (Proposal, error)
}

// ProposeInput is what a proposer sees.
type ProposeInput struct {
	Task    string
	Parent  Candidate
	Lessons []Lesson // the parent's lessons, in order
	Demos   []Demo   // the parent's demos
	Notes   []Note   // the parent's pinned notes
	Trials  []Trial  // the minibatch under the parent
	// Store gives proposers read access, e.g. to search the task's demos.
	Store *Store
}

// Proposal is a change to a parent candidate: ACE-style deltas to its
// lessons, demos and notes, and optionally new system text.
type Proposal struct {
	// System replaces the system text when not nil.
	System *string `json:"system,omitempty"`
	// AddLessons are new bullets; Text is required. Lessons without
	// Feedback get the minibatch's failing trials as provenance.
	AddLessons []Lesson `json:"add_lessons,omitempty"`
	// EditLessons replace bullets of the parent by edited copies.
	EditLessons []LessonEdit `json:"edit_lessons,omitempty"`
	DropLessons []uint64     `json:"drop_lessons,omitempty"`
	// AddDemos are new demos, or existing demos of the task when ID is set.
	AddDemos  []Demo   `json:"add_demos,omitempty"`
	DropDemos []uint64 `json:"drop_demos,omitempty"`
	// AddNotes are new notes, pinned to the child and pending until a
	// candidate carrying them is promoted.
	AddNotes []Note `json:"add_notes,omitempty"`
	// Helpful and Harmful tag parent lessons the proposer judged.
	Helpful []uint64 `json:"helpful,omitempty"`
	Harmful []uint64 `json:"harmful,omitempty"`
	Reason  string   `json:"reason,omitempty"`
}

// LessonEdit rewrites one lesson.
type LessonEdit struct {
	ID   uint64 `json:"id"`
	Text string `json:"text"`
}

// Empty reports whether the proposal changes nothing.
func (p Proposal) Empty() bool {
	return p.System == nil && len(p.AddLessons) == 0 && len(p.EditLessons) == 0 && len(p.DropLessons) == 0 &&
		len(p.AddDemos) == 0 && len(p.DropDemos) == 0 && len(p.AddNotes) == 0
}

// RunConfig starts an optimizer run.
type RunConfig struct {
	Task string
	// Train feeds minibatches; Val decides acceptance into the pool, the
	// Pareto front and promotion. Train may be empty (Val is used).
	Train, Val []Instance
	// Budget is the number of rollouts (runner calls) the run may spend.
	// The run stops at the first iteration boundary at or past it.
	Budget int
	// Minibatch is the number of train instances per iteration (default 3).
	Minibatch int
	// Seed makes parent and minibatch choices reproducible.
	Seed uint64
	// SeedSystem starts from a new candidate with this system text; empty
	// starts from the task's current version.
	SeedSystem string
	// Render limits prompts; only its serializable fields are stored with
	// the run (resumed runs take Embedder and Tokens from Optimizer.Render).
	Render RenderOptions
}

// RunState is an optimizer run as stored; it is checkpointed after every
// rollout and every step of an iteration.
type RunState struct {
	ID        uint64 `json:"id"`
	Task      string `json:"task"`
	Seed      uint64 `json:"seed"`
	Budget    int    `json:"budget"`
	Minibatch int    `json:"minibatch"`
	Rollouts  int    `json:"rollouts"`
	Iteration int    `json:"iteration"`
	// Pool holds the candidates scored on every validation instance.
	Pool []uint64 `json:"pool"`
	// Base is the candidate that was current when the run started.
	Base     uint64   `json:"base,omitempty"`
	Best     uint64   `json:"best,omitempty"`
	Promoted []uint64 `json:"promoted,omitempty"` // version seqs
	Accepted int      `json:"accepted"`
	Pending  *Step    `json:"pending,omitempty"`
	// Stalled counts consecutive iterations that ran no rollout (every
	// outcome already known and nothing new proposed); a run whose parents
	// are perfect or whose proposers are exhausted stops at maxStalled.
	Stalled int       `json:"stalled,omitempty"`
	Status  string    `json:"status"` // "running" or "done"
	Limits  Limits    `json:"limits"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Limits are the stored part of RenderOptions.
type Limits struct {
	Notes     int `json:"notes,omitempty"`
	Demos     int `json:"demos,omitempty"`
	Lessons   int `json:"lessons,omitempty"`
	MaxChars  int `json:"max_chars,omitempty"`
	MaxTokens int `json:"max_tokens,omitempty"`
}

// Step is the iteration in progress.
type Step struct {
	Iteration int      `json:"iteration"`
	Phase     string   `json:"phase"` // "seed", "parent", "child", "validate"
	Parent    uint64   `json:"parent,omitempty"`
	Batch     []string `json:"batch,omitempty"`
	Proposer  string   `json:"proposer,omitempty"`
	Feedback  []uint64 `json:"feedback,omitempty"`
	Child     uint64   `json:"child,omitempty"`
	New       []uint64 `json:"new_lessons,omitempty"` // lessons the child added or edited
	Start     int      `json:"start"`                 // rollouts spent before this iteration
}

// IterationRecord is the log entry of one finished iteration.
type IterationRecord struct {
	Iteration    int                `json:"iteration"`
	Parent       uint64             `json:"parent"`
	Proposer     string             `json:"proposer,omitempty"`
	Batch        []string           `json:"batch"`
	ParentScores map[string]float64 `json:"parent_scores,omitempty"`
	Child        uint64             `json:"child,omitempty"`
	ChildScores  map[string]float64 `json:"child_scores,omitempty"`
	Accepted     bool               `json:"accepted"`
	ValMean      float64            `json:"val_mean,omitempty"`
	Promoted     uint64             `json:"promoted,omitempty"`
	Note         string             `json:"note,omitempty"`
	Finished     time.Time          `json:"finished"`
}

// maxStalled is how many iterations in a row may pass without a rollout
// before a run stops early.
const maxStalled = 25

// Run statuses.
const (
	StatusRunning = "running"
	StatusDone    = "done"
)

// runData holds a run's instances.
type runData struct {
	Train []Instance `json:"train"`
	Val   []Instance `json:"val"`
}

// Event reports optimizer progress.
type Event struct {
	Kind      string  // "rollout", "iteration", "accepted", "promoted", "done"
	Run       uint64  // run id
	Iteration int     // iteration number
	Candidate uint64  // the candidate concerned
	Version   uint64  // for "promoted": the version seq
	Rollouts  int     // rollouts spent so far
	Score     float64 // for "accepted"/"promoted": validation mean
}

// Optimizer searches prompt candidates GEPA-style: it samples a minibatch,
// runs the parent, asks a proposer for a child, keeps the child if it beats
// the parent on the minibatch, scores it on the validation set, keeps a
// Pareto front over validation instances and draws the next parent from
// it. A child that beats the current version's validation mean is promoted
// through the gate. Everything is checkpointed in the store: a run killed
// at any point resumes where it stopped without repeating a rollout whose
// result was saved.
type Optimizer struct {
	Store     *Store
	Runner    Runner
	Proposers []Proposer
	// Render supplies the non-serializable render options (Embedder,
	// Tokens) for resumed runs.
	Render RenderOptions
	// Workers runs up to this many rollouts of one candidate at once
	// (default 1).
	Workers int
	// OnEvent, if set, is called after each checkpoint.
	OnEvent func(Event)

	mu    sync.Mutex // guards state during parallel rollouts
	state RunState
	data  runData
}
