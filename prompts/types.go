package prompts

import (
	"fmt"
	"time"
)

// Task is a named job the model adapts to. Every other record belongs to
// exactly one task.
type Task struct {
	// Name is the task's key: 1 to 64 characters from [A-Za-z0-9._-].
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Created     time.Time `json:"created"`
}

// Candidate is one prompt in the optimizer's population: system text plus
// the lessons, demos and pinned notes it carries. Scores holds its score on
// each validation instance it has been evaluated on, by instance id.
type Candidate struct {
	ID         uint64             `json:"id"`
	Task       string             `json:"task"`
	System     string             `json:"system"`
	Lessons    []uint64           `json:"lessons,omitempty"`
	Demos      []uint64           `json:"demos,omitempty"`
	Notes      []uint64           `json:"notes,omitempty"`
	Parents    []uint64           `json:"parents,omitempty"`
	Generation int                `json:"generation"`
	Scores     map[string]float64 `json:"scores,omitempty"`
	// Proposer names what made this candidate ("seed", "reflective", ...).
	Proposer string `json:"proposer,omitempty"`
	// Run is the optimizer run that created it, 0 if none.
	Run     uint64    `json:"run,omitempty"`
	Created time.Time `json:"created"`
}

// Mean is the candidate's mean validation score over ids, and whether it
// has a score for every one of them. With no ids it averages all scores.
func (c *Candidate) Mean(ids []string) (float64, bool) {
	if len(ids) == 0 {
		if len(c.Scores) == 0 {
			return 0, false
		}
		var sum float64
		for _, s := range c.Scores {
			sum += s
		}
		return sum / float64(len(c.Scores)), true
	}
	var sum float64
	for _, id := range ids {
		s, ok := c.Scores[id]
		if !ok {
			return 0, false
		}
		sum += s
	}
	return sum / float64(len(ids)), true
}

// Lesson is one bullet of task knowledge (ACE-style): small, editable, and
// traceable to the feedback that produced it.
type Lesson struct {
	ID   uint64 `json:"id"`
	Task string `json:"task"`
	Text string `json:"text"`
	// Section groups bullets when rendered ("strategies", "mistakes", ...).
	Section string `json:"section,omitempty"`
	Helpful int64  `json:"helpful"`
	Harmful int64  `json:"harmful"`
	// Source names what wrote the lesson ("reflective", "verifier", "user").
	Source string `json:"source,omitempty"`
	// Feedback lists the feedback records the lesson was derived from.
	Feedback []uint64 `json:"feedback,omitempty"`
	// Replaces is the lesson this one edits, 0 if it is new.
	Replaces uint64    `json:"replaces,omitempty"`
	Created  time.Time `json:"created"`
}

// Demo is a worked example shown to the model.
type Demo struct {
	ID       uint64    `json:"id"`
	Task     string    `json:"task"`
	Input    string    `json:"input"`
	Output   string    `json:"output"`
	Source   string    `json:"source,omitempty"`
	Feedback []uint64  `json:"feedback,omitempty"`
	Created  time.Time `json:"created"`
}

// Note is a fact to look up at serving time rather than memorize.
type Note struct {
	ID       uint64   `json:"id"`
	Task     string   `json:"task"`
	Text     string   `json:"text"`
	Source   string   `json:"source,omitempty"`
	Feedback []uint64 `json:"feedback,omitempty"`
	// Pending notes were proposed by the optimizer: they are visible only
	// to candidates that pin them, and become searchable task-wide when
	// such a candidate is promoted.
	Pending bool      `json:"pending,omitempty"`
	Created time.Time `json:"created"`
}

// Feedback records how a served (or rolled-out) answer fared.
type Feedback struct {
	ID       uint64  `json:"id"`
	Task     string  `json:"task"`
	Instance string  `json:"instance,omitempty"`
	Input    string  `json:"input"`
	Output   string  `json:"output"`
	Answer   string  `json:"answer,omitempty"`
	Score    float64 `json:"score"`
	Text     string  `json:"text,omitempty"`
	// Candidate is the candidate that produced Output, 0 if unknown.
	Candidate uint64 `json:"candidate,omitempty"`
	// Lessons lists the lessons that were in the prompt.
	Lessons []uint64  `json:"lessons,omitempty"`
	Run     uint64    `json:"run,omitempty"`
	Created time.Time `json:"created"`
}

// Action is what a version record did.
type Action string

// Version actions.
const (
	ActionPromote  Action = "promote"
	ActionRollback Action = "rollback"
)

// Version is one entry of a task's promotion history. The history is
// append-only: a rollback is a new entry that restores an older one.
type Version struct {
	Seq       uint64 `json:"seq"`
	Task      string `json:"task"`
	Candidate uint64 `json:"candidate"`
	Action    Action `json:"action"`
	// Previous is the version that was current before this one, 0 if none.
	Previous uint64 `json:"previous,omitempty"`
	// Restores is the version a rollback restored.
	Restores uint64    `json:"restores,omitempty"`
	Evidence Evidence  `json:"evidence"`
	Created  time.Time `json:"created"`
}

// Evidence is why a version was promoted: the gate's comparison on the
// validation instances, or the reason given for a forced promotion or a
// rollback.
type Evidence struct {
	// Source names the decision maker ("optimizer run 7 iteration 3", "cli").
	Source string `json:"source,omitempty"`
	Reason string `json:"reason,omitempty"`
	Forced bool   `json:"forced,omitempty"`
	// Instances is the number of validation instances compared.
	Instances int     `json:"instances"`
	Score     float64 `json:"score"`
	// Baseline is the previous version's candidate and its score on the
	// same instances; BaselineCandidate is 0 for a task's first version.
	BaselineCandidate uint64             `json:"baseline_candidate,omitempty"`
	Baseline          float64            `json:"baseline"`
	PerInstance       map[string]float64 `json:"per_instance,omitempty"`
	BaselinePer       map[string]float64 `json:"baseline_per_instance,omitempty"`
}

// Instance is one input the task is evaluated on.
type Instance struct {
	// ID identifies the instance within its set; validation scores are
	// keyed by it.
	ID    string `json:"id"`
	Input string `json:"input"`
	// Answer is the expected answer when one is known (exact-match tasks).
	Answer string            `json:"answer,omitempty"`
	Meta   map[string]string `json:"meta,omitempty"`
}

// Kind selects one of the searchable record types.
type Kind byte

// Searchable kinds.
const (
	KindNote   Kind = 'n'
	KindDemo   Kind = 'd'
	KindLesson Kind = 'l'
)

// String names the kind ("note", "demo", "lesson").
func (k Kind) String() string {
	switch k {
	case KindNote:
		return "note"
	case KindDemo:
		return "demo"
	case KindLesson:
		return "lesson"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

func (k Kind) valid() bool { return k == KindNote || k == KindDemo || k == KindLesson }
