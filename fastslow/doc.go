// Package fastslow adapts a local language model to a stream of tasks through two channels and keeps what it
// learned from erasing what the model knew.
//
// The fast channel puts task knowledge into the prompt: demos, facts to look up (notes) and lessons, kept in a
// versioned prompt store (package prompts) and promoted only when they do not lower the validation score. The
// slow channel trains a minimal LoRA adapter on the model's own GGUF weights (package weights), checks a
// forgetting budget on a retention set, deploys the adapter (to Ollama, or the in-process engine) and only then
// promotes it; every version can be rolled back.
//
// A Learner routes each task's examples by policy: PolicyFST (a prompt cycle first, then a few weight steps trained
// with prompts from the candidate population in context, within the forgetting budget), PolicyWeights (weights
// only, the usual fine-tuning baseline) and PolicyPrompts (prompts only). What a Learner serves is the promoted
// prompt with the promoted adapter.
package fastslow
