// Package lab is the forgetting lab: experiments that replay task streams through fastslow Learners on the
// user's own model and measure what each kind of adaptation costs.
//
// Stream, the first experiment, compares arms (a policy, how it is served, its learning rate and weight steps)
// over the same task stream for several seeds, each seed drawing its own world as well as its initialization and
// order. Every question is served under one shared prompt (the task is never named) unless an arm is the
// per-task-prompt variant. A sweep on validation data chooses each weight-training arm's learning rate and step
// budget; ablations switch fst's parts (prompts, retention gate, replay) on and off at one budget. It records the
// accuracy matrix R[k][i] (accuracy on task i after learning task k), learning curves in weight steps, general
// ability before and after (pretraining facts, held-out prose perplexity), the KL divergence of the served model
// from the base on fixed text, plasticity on a task held out of the stream, the cost of learning (weight steps,
// generations, seconds) and how many right answers were found in the served prompt. Report turns the result
// into Markdown, PNG plots and a JSON file holding every plotted number, answering each question with a
// bootstrap interval and a verdict that is yes or no only when the interval excludes zero.
//
// Three further experiments ask whether the forgetting is reversible: Spurious (does a task forgotten after
// learning another come back after brief retraining on other data, and is the knowledge still ranked first by
// its likelihood — see Probe), Cyclic (anticipatory recovery under a fixed cyclic training order against a
// shuffled one) and Capacity (facts learned into weights, by LoRA and full fine-tuning, against the same facts
// as notes retrieved into the context, for growing numbers of facts). Each result has Sections for the report.
package lab
