// Package lab is the forgetting lab: experiments that replay task streams through fastslow Learners on the
// user's own model and measure what each kind of adaptation costs.
//
// Stream, the first experiment, runs the three policies (fst, weights, prompts) over the same task stream for
// several seeds and records the accuracy matrix R[k][i] (accuracy on task i after learning task k), learning
// curves in weight steps, general ability before and after (pretraining facts, held-out prose perplexity), the
// KL divergence of the served model from the base on fixed text, and plasticity on a task held out of the
// stream. Report turns the result into Markdown, PNG plots and a JSON file holding every plotted number.
//
// Three further experiments ask whether the forgetting is reversible: Spurious (does a task forgotten after
// learning another come back after brief retraining on other data, and is the knowledge still ranked first by
// its likelihood — see Probe), Cyclic (anticipatory recovery under a fixed cyclic training order against a
// shuffled one) and Capacity (facts learned into weights, by LoRA and full fine-tuning, against the same facts
// as notes retrieved into the context, for growing numbers of facts). Each result has Sections for the report.
package lab
