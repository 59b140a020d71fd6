package prompts

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	badger "github.com/dgraph-io/badger/v4"
)

// Budget limits the size of a rendered prompt (everything but the input).
// Zero fields mean no limit.
type Budget struct {
	MaxChars  int
	MaxTokens int
	// Tokens counts the tokens of a text with the model's tokenizer. Nil
	// estimates one token per four bytes, rounded up.
	Tokens func(string) int
}

func (b Budget) tokens(s string) int {
	if b.Tokens != nil {
		return b.Tokens(s)
	}
	return (len(s) + 3) / 4
}

func (b Budget) fits(s string) bool {
	return (b.MaxChars <= 0 || len(s) <= b.MaxChars) && (b.MaxTokens <= 0 || b.tokens(s) <= b.MaxTokens)
}

// Format is how a prompt is written.
type Format int

// The formats.
const (
	// FormatSections writes headed sections ("Lessons:", "Notes:", "Examples:") and serves an input as
	// "Input: ...\nOutput:": for instruction-tuned models. The budget limits everything but the input.
	FormatSections Format = iota
	// FormatPlain writes what a base model was pretrained on: the system text, the lessons as "- " lines, each
	// demo as its input followed by its output, then the notes as lines directly before the input, which ends
	// the prompt. Blocks are separated by a blank line. The budget limits the whole prompt, input included;
	// the system text and the input are always kept, then notes, lessons and demos, in that precedence, each
	// the longest prefix of its ranked list that fits. Notes repeating another's text, lessons repeating
	// another's (on one line) and demos repeating another's input are written once. A kind gets room only once
	// every item of the kinds before it is in.
	FormatPlain
)

// Parts is what a prompt is assembled from. Lessons, Notes and Demos are
// in priority order: when the budget is short, later ones are left out.
type Parts struct {
	Task      string
	Candidate uint64
	Version   uint64
	System    string
	Lessons   []Lesson
	Notes     []Note
	Demos     []Demo
	// Format is how the prompt is written; Input, for FormatPlain, is the input it is served with.
	Format Format
	Input  string
}

// Rendered is a prompt ready to serve: the system prompt (system text,
// lessons and notes) and the demos, which a runner sends either as chat
// turns (Messages) or inline (Prompt).
type Rendered struct {
	Task      string `json:"task"`
	Candidate uint64 `json:"candidate,omitempty"`
	Version   uint64 `json:"version,omitempty"`
	System    string `json:"system"`
	Demos     []Demo `json:"demos,omitempty"`
	// The records that made it into the prompt.
	Lessons []uint64 `json:"lessons,omitempty"`
	Notes   []uint64 `json:"notes,omitempty"`
	// Dropped counts lessons, notes and demos left out for the budget.
	Dropped int `json:"dropped,omitempty"`
	// Chars and Tokens measure Text() (Tokens as the budget counts them).
	Chars  int `json:"chars"`
	Tokens int `json:"tokens"`
	// Format is the format it was written in; for FormatPlain, Body is the whole prompt before the input.
	Format Format `json:"format,omitempty"`
	Body   string `json:"body,omitempty"`
}

// Message is one chat turn.
type Message struct {
	Role    string `json:"role"` // "system", "user" or "assistant"
	Content string `json:"content"`
}

func demoBlock(demos []Demo) string {
	if len(demos) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("Examples:")
	for _, d := range demos {
		fmt.Fprintf(&b, "\nInput: %s\nOutput: %s\n", d.Input, d.Output)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func joinBlocks(blocks ...string) string {
	var nonEmpty []string
	for _, b := range blocks {
		if b != "" {
			nonEmpty = append(nonEmpty, b)
		}
	}
	return strings.Join(nonEmpty, "\n\n")
}

// Text is the rendered prompt without an input: system prompt and demos
// (FormatPlain: Body). It is what the budget of FormatSections limits.
func (r Rendered) Text() string {
	if r.Format == FormatPlain {
		return r.Body
	}
	return joinBlocks(r.System, demoBlock(r.Demos))
}

// Prompt renders a single completion prompt for input.
func (r Rendered) Prompt(input string) string {
	if r.Format == FormatPlain {
		return r.Body + input
	}
	return joinBlocks(r.Text(), "Input: "+input+"\nOutput:")
}

// Messages renders chat turns for input: the system prompt, each demo as a
// user/assistant pair, then the input.
func (r Rendered) Messages(input string) []Message {
	var ms []Message
	if r.System != "" {
		ms = append(ms, Message{"system", r.System})
	}
	for _, d := range r.Demos {
		ms = append(ms, Message{"user", d.Input}, Message{"assistant", d.Output})
	}
	return append(ms, Message{"user", input})
}

func bulletBlock(title string, items []string) string {
	if len(items) == 0 {
		return ""
	}
	return title + "\n- " + strings.Join(items, "\n- ")
}

// Assemble renders parts within budget: the system text always, then
// lessons, notes and demos in that order of precedence, each in priority
// order, skipping any that would overflow the budget. Rendered lessons keep
// their priority order; sections are "Lessons:", "Notes:" and "Examples:".
// The same parts and budget always give the same prompt. It fails with
// ErrBudget only if the system text alone does not fit.
func Assemble(p Parts, b Budget) (Rendered, error) {
	if p.Format == FormatPlain {
		return assemblePlain(p, b), nil
	}
	r := Rendered{Task: p.Task, Candidate: p.Candidate, Version: p.Version, System: strings.TrimSpace(p.System)}
	if !b.fits(r.System) {
		return Rendered{}, fmt.Errorf("%w: %d characters", ErrBudget, len(r.System))
	}
	var lessons, notes []string
	var demos []Demo
	render := func() string {
		return joinBlocks(r.System, bulletBlock("Lessons:", lessons), bulletBlock("Notes:", notes), demoBlock(demos))
	}
	oneLine := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	for _, l := range p.Lessons {
		if lessons = append(lessons, oneLine(l.Text)); b.fits(render()) {
			r.Lessons = append(r.Lessons, l.ID)
		} else {
			lessons, r.Dropped = lessons[:len(lessons)-1], r.Dropped+1
		}
	}
	for _, n := range p.Notes {
		if notes = append(notes, oneLine(n.Text)); b.fits(render()) {
			r.Notes = append(r.Notes, n.ID)
		} else {
			notes, r.Dropped = notes[:len(notes)-1], r.Dropped+1
		}
	}
	for _, d := range p.Demos {
		if demos = append(demos, d); !b.fits(render()) {
			demos, r.Dropped = demos[:len(demos)-1], r.Dropped+1
		}
	}
	r.System = joinBlocks(r.System, bulletBlock("Lessons:", lessons), bulletBlock("Notes:", notes))
	r.Demos = demos
	text := r.Text()
	r.Chars, r.Tokens = len(text), b.tokens(text)
	return r, nil
}

// assemblePlain is Assemble in FormatPlain; it never fails: the system text and the input are kept whatever
// the budget.
func assemblePlain(p Parts, b Budget) Rendered {
	r := Rendered{Task: p.Task, Candidate: p.Candidate, Version: p.Version, System: strings.TrimSpace(p.System), Format: FormatPlain}
	oneLine := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	type item struct {
		id   uint64
		text string
	}
	var ls, ns, ds []item
	seen := map[string]bool{}
	for _, l := range p.Lessons {
		if t := oneLine(l.Text); t != "" && !seen["l"+t] {
			seen["l"+t] = true
			ls = append(ls, item{l.ID, "- " + t})
		}
	}
	for _, n := range p.Notes {
		if t := strings.TrimSpace(n.Text); t != "" && !seen["n"+t] {
			seen["n"+t] = true
			ns = append(ns, item{n.ID, t})
		}
	}
	var demos []Demo
	for _, d := range p.Demos {
		if !seen["d"+d.Input] {
			seen["d"+d.Input] = true
			ds = append(ds, item{d.ID, d.Input + d.Output})
			demos = append(demos, d)
		}
	}
	texts := func(items []item) []string {
		out := make([]string, len(items))
		for i, it := range items {
			out[i] = it.text
		}
		return out
	}
	body := func(ls, ns, ds []item) string {
		var sb strings.Builder
		block := func(s string) {
			if s != "" {
				sb.WriteString(s)
				sb.WriteString("\n\n")
			}
		}
		block(r.System)
		block(strings.Join(texts(ls), "\n"))
		for _, d := range ds {
			block(d.text)
		}
		if len(ns) > 0 {
			sb.WriteString(strings.Join(texts(ns), "\n"))
			sb.WriteString("\n")
		}
		return sb.String()
	}
	fits := func(ls, ns, ds []item) bool { return b.fits(body(ls, ns, ds) + p.Input) }
	// The longest prefix of each list, notes first, then lessons, then demos.
	n := 0
	for n < len(ns) && fits(nil, ns[:n+1], nil) {
		n++
	}
	// A kind is considered only when every item of the kinds before it is in.
	l := 0
	for n == len(ns) && l < len(ls) && fits(ls[:l+1], ns, nil) {
		l++
	}
	d := 0
	for n == len(ns) && l == len(ls) && d < len(ds) && fits(ls, ns, ds[:d+1]) {
		d++
	}
	r.Dropped = len(ls) - l + len(ns) - n + len(ds) - d
	for _, it := range ls[:l] {
		r.Lessons = append(r.Lessons, it.id)
	}
	for _, it := range ns[:n] {
		r.Notes = append(r.Notes, it.id)
	}
	r.Demos = demos[:d]
	r.Body = body(ls[:l], ns[:n], ds[:d])
	r.Chars, r.Tokens = len(r.Body)+len(p.Input), b.tokens(r.Body+p.Input)
	return r
}

// RenderOptions choose what goes into a rendered prompt.
type RenderOptions struct {
	// Format is how the prompt is written (default FormatSections).
	Format Format
	Budget Budget
	// Notes is how many task notes to retrieve for the query (default 3,
	// negative for none). Notes the candidate pins compete with them.
	Notes int
	// Demos caps the candidate's demos (default 3, negative for none).
	Demos int
	// Lessons caps the candidate's lessons (default all, negative for none).
	Lessons int
	// Embedder and EmbedderID are passed to note retrieval.
	Embedder   Embedder
	EmbedderID string
}

func limit(n, def int) int {
	switch {
	case n < 0:
		return 0
	case n == 0:
		return def
	}
	return n
}

// Render renders the task's current version for query (usually the input
// the prompt will be served with). It fails with ErrNoVersion if nothing
// has been promoted.
func (s *Store) Render(ctx context.Context, task, query string, opts RenderOptions) (Rendered, error) {
	v, err := s.Current(ctx, task)
	if err != nil {
		return Rendered{}, err
	}
	r, err := s.renderCandidate(ctx, task, v.Candidate, query, opts)
	r.Version = v.Seq
	return r, err
}

// RenderCandidate renders one candidate for query. Lessons are ranked by
// BM25 relevance to the query, then by helpful minus harmful counts, then
// by their order in the candidate; notes (retrieved and pinned) and demos
// by relevance. The ranking decides what the budget keeps.
func (s *Store) RenderCandidate(ctx context.Context, task string, candidate uint64, query string, opts RenderOptions) (Rendered, error) {
	return s.renderCandidate(ctx, task, candidate, query, opts)
}

func (s *Store) renderCandidate(ctx context.Context, task string, candidate uint64, query string, opts RenderOptions) (Rendered, error) {
	p, err := s.parts(ctx, task, candidate, query, opts)
	if err != nil {
		return Rendered{}, fmt.Errorf("render %s/%d: %w", task, candidate, err)
	}
	p.Format, p.Input = opts.Format, query
	r, err := Assemble(p, opts.Budget)
	if err != nil {
		return Rendered{}, fmt.Errorf("render %s/%d: %w", task, candidate, err)
	}
	return r, nil
}

// parts loads and ranks what a candidate renders for query.
func (s *Store) parts(ctx context.Context, task string, candidate uint64, query string, opts RenderOptions) (Parts, error) {
	p := Parts{Task: task, Candidate: candidate}
	q := Tokenize(query)
	var pinned []Note
	var pinnedScores []float64
	err := s.view(ctx, func(txn *badger.Txn) error {
		if err := requireTask(txn, task); err != nil {
			return err
		}
		c, err := getCandidate(txn, task, candidate)
		if err != nil {
			return err
		}
		p.System = c.System
		lessons, err := loadAll[Lesson](txn, pfxLesson, task, c.Lessons)
		if err != nil {
			return err
		}
		demos, err := loadAll[Demo](txn, pfxDemo, task, c.Demos)
		if err != nil {
			return err
		}
		if pinned, err = loadAll[Note](txn, pfxNote, task, c.Notes); err != nil {
			return err
		}
		texts := func(n int, f func(int) string) []string {
			out := make([]string, n)
			for i := range out {
				out[i] = f(i)
			}
			return out
		}
		ls, err := scoreText(txn, task, KindLesson, q, texts(len(lessons), func(i int) string { return lessons[i].Text }))
		if err != nil {
			return err
		}
		ds, err := scoreText(txn, task, KindDemo, q, texts(len(demos), func(i int) string { return demoText(&demos[i]) }))
		if err != nil {
			return err
		}
		if pinnedScores, err = scoreText(txn, task, KindNote, q, texts(len(pinned), func(i int) string { return pinned[i].Text })); err != nil {
			return err
		}
		p.Lessons = rank(lessons, ls, func(a, b Lesson) int {
			return cmp.Compare(b.Helpful-b.Harmful, a.Helpful-a.Harmful)
		})[:min(len(lessons), limit(opts.Lessons, len(lessons)))]
		p.Demos = rank(demos, ds, nil)[:min(len(demos), limit(opts.Demos, 3))]
		return nil
	})
	if err != nil {
		return p, err
	}
	nNotes := limit(opts.Notes, 3)
	if nNotes == 0 {
		return p, nil
	}
	type scoredNote struct {
		n     Note
		score float64
	}
	var all []scoredNote
	seen := map[uint64]bool{}
	for i, n := range pinned {
		if pinnedScores[i] > 0 || len(q) == 0 {
			all = append(all, scoredNote{n, pinnedScores[i]})
			seen[n.ID] = true
		}
	}
	if len(q) > 0 {
		r, err := s.Retrieve(ctx, task, query, RetrieveOptions{Notes: nNotes, Embedder: opts.Embedder, EmbedderID: opts.EmbedderID})
		if err != nil {
			return p, err
		}
		for _, sn := range r.Notes {
			if !seen[sn.Item.ID] {
				all = append(all, scoredNote{sn.Item, sn.Score})
			}
		}
	}
	slices.SortStableFunc(all, func(a, b scoredNote) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.n.ID, b.n.ID)
	})
	for _, sn := range all[:min(len(all), nNotes)] {
		p.Notes = append(p.Notes, sn.n)
	}
	return p, nil
}

// rank orders items by score (descending), then by tie (if any), then by
// their original position.
func rank[T any](items []T, scores []float64, tie func(a, b T) int) []T {
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		if c := cmp.Compare(scores[b], scores[a]); c != 0 {
			return c
		}
		if tie != nil {
			return tie(items[a], items[b])
		}
		return 0
	})
	out := make([]T, len(items))
	for i, j := range idx {
		out[i] = items[j]
	}
	return out
}

// loadAll reads the records ids of a task, in order.
func loadAll[T any](txn *badger.Txn, pfx, task string, ids []uint64) ([]T, error) {
	out := make([]T, len(ids))
	for i, id := range ids {
		if err := getJSON(txn, idKey(pfx, task, id), &out[i]); err != nil {
			return nil, fmt.Errorf("record %d: %w", id, err)
		}
	}
	return out, nil
}
