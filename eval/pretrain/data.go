package pretrain

import (
	"context"
	"fmt"
	"strings"
	"unicode"

	"github.com/fastslow/fastslow/eval/world"
	"github.com/fastslow/fastslow/weights/llama"
	"github.com/fastslow/fastslow/weights/tokenizer"
)

// doc is one pretraining document. The loss covers the whole text, or only Completion when Context is
// set (an in-context document: the model should learn to copy, not to memorize the context).
type doc struct {
	Text       string // the document, or the prompt of an in-context document
	Completion string // the answer of an in-context or fact document, else empty
	Context    bool   // loss on Completion only
}

// corpus is the text of a recipe before tokenization.
type corpus struct {
	w       *world.World
	docs    []doc
	heldOut []string
	// Counts by kind, for the report.
	bios, prose, facts, contexts int
}

// buildCorpus assembles the pretraining documents of r: biographies and prose from the world's corpus,
// the fact questions of the train group and the in-context documents.
func buildCorpus(ctx context.Context, r Recipe) (*corpus, error) {
	w, err := world.New(r.World.Options())
	if err != nil {
		return nil, fmt.Errorf("pretrain: %w", err)
	}
	c, err := w.Corpus(ctx, world.CorpusOptions{
		BioVariants: r.Corpus.BioVariants, ProseChars: r.Corpus.ProseChars, HeldOutChars: r.Corpus.HeldOutChars,
		ProsePath: r.Corpus.ProsePath,
	})
	if err != nil {
		return nil, fmt.Errorf("pretrain: %w", err)
	}
	out := &corpus{w: w, heldOut: c.HeldOut}
	bios := map[string]bool{}
	for _, p := range w.Known {
		for _, b := range world.Biographies(p) {
			bios[b] = true
		}
	}
	for _, d := range c.Documents {
		if !bios[d] {
			out.docs = append(out.docs, doc{Text: d})
			out.prose++
			continue
		}
		for range r.Corpus.BioRepeats {
			out.docs = append(out.docs, doc{Text: d})
			out.bios++
		}
	}
	for _, name := range r.Mix.FactTasks {
		t, err := w.Task(name)
		if err != nil {
			return nil, fmt.Errorf("pretrain: %w", err)
		}
		for range r.Mix.FactRepeats {
			for _, e := range t.Train {
				out.docs = append(out.docs, doc{Text: e.Prompt, Completion: e.Completion})
				out.facts++
			}
		}
	}
	ctxDocs, err := contextDocs(w, r.Mix)
	if err != nil {
		return nil, err
	}
	out.docs = append(out.docs, ctxDocs...)
	out.contexts = len(ctxDocs)
	return out, nil
}

// contextDocs builds the in-context documents of the mix: facts about people of a second world, stated
// in the context and then asked about.
func contextDocs(w *world.World, m MixRecipe) ([]doc, error) {
	if m.ContextPeople == 0 || m.ContextPerPerson == 0 {
		return nil, nil
	}
	taken := map[string]bool{}
	for _, p := range append(append([]world.Person(nil), w.Known...), w.Newcomers...) {
		taken[p.Name()] = true
	}
	// Draw a few more than needed: names that collide with the main world are skipped.
	extra := m.ContextPeople + m.ContextPeople/4 + 8
	aux, err := world.New(world.Options{Seed: m.ContextSeed, Known: extra, Newcomers: 5})
	if err != nil {
		return nil, fmt.Errorf("pretrain: in-context people: %w", err)
	}
	var people []world.Person
	for _, p := range aux.Known {
		if !taken[p.Name()] && len(people) < m.ContextPeople {
			people = append(people, p)
		}
	}
	if len(people) < m.ContextPeople {
		return nil, fmt.Errorf("pretrain: only %d in-context people free of name clashes, %d wanted", len(people), m.ContextPeople)
	}
	r := newRNG(m.Seed, streamContext)
	attrs := world.Attributes()
	var docs []doc
	for _, p := range people {
		order := r.Perm(len(attrs))
		for _, ai := range order[:m.ContextPerPerson] {
			a := attrs[ai]
			variant := r.Intn(world.NumBioTemplates)
			var context string
			if r.Float64() < m.ContextFullBio {
				context = world.Biography(p, variant)
			} else {
				s, err := FactSentence(p, a, variant)
				if err != nil {
					return nil, err
				}
				context = s
			}
			prompt, completion, err := factPrompt(p, a, r.Intn(2) == 0, r.Intn(world.NumPhrasings))
			if err != nil {
				return nil, err
			}
			docs = append(docs, doc{Text: context + "\n" + prompt, Completion: completion, Context: true})
		}
	}
	return docs, nil
}

// factPrompt asks about attribute a of p as a question (qa) or a fill-in-the-blank prompt, in the
// given wording, and returns the prompt and its completion (a space and the answer).
func factPrompt(p world.Person, a world.Attribute, qa bool, phrasing int) (prompt, completion string, err error) {
	v, ok := p.Value(a)
	if !ok {
		return "", "", fmt.Errorf("pretrain: unknown attribute %q", a)
	}
	if qa {
		q, err := world.Question(p, a, phrasing)
		if err != nil {
			return "", "", err
		}
		return world.QAPrompt(q), " " + v, nil
	}
	c, err := world.Cloze(p, a, phrasing)
	if err != nil {
		return "", "", err
	}
	return c, " " + v, nil
}

// FactSentence returns the sentence of biography paraphrase variant of p that states attribute a:
// the context of an in-context question.
func FactSentence(p world.Person, a world.Attribute, variant int) (string, error) {
	v, ok := p.Value(a)
	if !ok {
		return "", fmt.Errorf("pretrain: unknown attribute %q", a)
	}
	for _, s := range sentences(world.Biography(p, variant)) {
		if containsWord(s, v) {
			return s, nil
		}
	}
	return "", fmt.Errorf("pretrain: biography %d of %s does not state %s", variant, p.Name(), a)
}

// sentences splits a biography at ". "; biographies have no other full stops.
func sentences(text string) []string {
	parts := strings.SplitAfter(text, ". ")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// containsWord reports whether s contains v not glued to a letter or digit on either side (so the
// colour "teal" is not found in "Steal").
func containsWord(s, v string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], v)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(v)
		if !wordByte(s, start-1) && !wordByte(s, end) {
			return true
		}
		i = start + 1
	}
}

func wordByte(s string, i int) bool {
	if i < 0 || i >= len(s) {
		return false
	}
	c := rune(s[i])
	return c < 0x80 && (unicode.IsLetter(c) || unicode.IsDigit(c))
}

// texts returns every document's full text, for training the tokenizer.
func (c *corpus) texts() []string {
	out := make([]string, len(c.docs))
	for i, d := range c.docs {
		out[i] = d.Text + d.Completion
	}
	return out
}

// sequences tokenizes the documents: BOS, the text, EOS. Texts longer than chunk tokens are split
// into several sequences, each starting with BOS (only the last ends with EOS). Fact and in-context
// documents encode prompt and completion separately, as the evaluation prompts them, and must fit the
// context of ctxLen tokens whole.
func (c *corpus) sequences(tok tokenizer.Tokenizer, chunk, ctxLen int) ([]llama.Sequence, int, error) {
	var seqs []llama.Sequence
	total := 0
	for i, d := range c.docs {
		var ids []int32
		start := 1
		if d.Completion != "" {
			ids = tok.Encode(d.Text, true)
			if d.Context {
				start = len(ids)
			}
			ids = append(ids, tok.Encode(d.Completion, false)...)
		} else {
			ids = tok.Encode(d.Text, true)
		}
		ids = append(ids, tok.EOS())
		if d.Completion != "" && len(ids) > ctxLen {
			return nil, 0, fmt.Errorf("pretrain: question document %d has %d tokens, more than the context of %d", i, len(ids), ctxLen)
		}
		if len(ids) <= chunk || d.Completion != "" {
			seqs = append(seqs, llama.Sequence{Tokens: ids, Start: start})
			total += len(ids)
			continue
		}
		// Split the text (without BOS) into chunks of equal size, so no chunk is a useless sliver.
		body := ids[1:]
		k := (len(body) + chunk - 2) / (chunk - 1)
		size := (len(body) + k - 1) / k
		for len(body) > 0 {
			n := min(len(body), size)
			s := make([]int32, 0, n+1)
			s = append(s, tok.BOS())
			s = append(s, body[:n]...)
			seqs = append(seqs, llama.Sequence{Tokens: s, Start: 1})
			total += len(s)
			body = body[n:]
		}
	}
	return seqs, total, nil
}
