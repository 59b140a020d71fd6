// Package pretrain builds the project's small base models: it pretrains a llama decoder from scratch
// on the synthetic world of package world (biographies of made-up people, mixed with real prose),
// saves it as a GGUF file that Ollama runs and the in-process engine loads, and measures what it
// learnt.
//
// A Recipe fixes everything that shapes the model — world, corpus, pretraining mix, vocabulary, model
// shape and training run — and is recorded in the model file, so a model can be rebuilt from itself.
// DefaultRecipe is the recipe of the embedded default model (package models).
//
// A tiny model trained on biographies alone memorizes them but cannot answer questions about them;
// Allen-Zhu and Li (Physics of Language Models, part 3.1) show that knowledge becomes extractable
// when pretraining also holds question-answer pairs for part of the people. The mix therefore adds
// the world's question and fill-in-the-blank examples for the people of its train group, and
// documents that state a fact and then ask about it, so the model learns to use facts placed in its
// context. Evaluate reports accuracy on the train group (questions seen in pretraining) and on the
// validation and test groups (facts seen only in biographies), and in-context accuracy on newcomers
// the model never saw.
package pretrain
