// Package train fits the parameters of a model to token sequences with AdamW.
//
// It trains LoRA adapters and, in full-parameter mode, whole small base models of package llama, but
// it only sees them through the [Objective] interface: a list of [llama.Param] tensors and a function
// that accumulates the gradient of a summed token loss into them. [Run] draws batches from a
// deterministic, seeded shuffle of the data, scales the gradient to the per-token mean, clips it by
// global norm, follows a warmup-then-decay learning-rate schedule and applies [AdamW] with the same
// update rule as torch.optim.AdamW.
//
// Runs are reproducible: the same objective, data and [Options] give the same losses and parameters
// bit for bit, and a run interrupted by context cancellation or a crash resumes from its last
// checkpoint to exactly the parameters an uninterrupted run would reach. A checkpoint holds the
// parameters, both AdamW moments, the step, the losses so far, the options that shape the run
// (seed included), a fingerprint of the data and the position in the data order, which is a pure
// function of seed and step. It is written atomically (temporary file, fsync, rename, fsync of the
// directory) and carries a CRC-32C checksum, so a damaged file is rejected with
// [ErrCorruptCheckpoint] rather than silently trained from.
//
// [LoRAObjective] and [FullObjective] connect a [llama.Model] and its [llama.Adapter]; any other
// model can be trained by implementing Objective.
package train
