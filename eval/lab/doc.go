// Package lab is the forgetting lab: experiments that replay task streams through fastslow Learners on the
// user's own model and measure what each kind of adaptation costs.
//
// Stream, the first experiment, runs the three policies (fst, weights, prompts) over the same task stream for
// several seeds and records the accuracy matrix R[k][i] (accuracy on task i after learning task k), learning
// curves in weight steps, general ability before and after (pretraining facts, held-out prose perplexity), the
// KL divergence of the served model from the base on fixed text, and plasticity on a task held out of the
// stream. Report turns the result into Markdown, PNG plots and a JSON file holding every plotted number.
package lab
