// Package peft converts LoRA adapters between Hugging Face PEFT's layout and the project's (llama.Adapter,
// saved as a GGUF LoRA by package weights), so an adapter trained on GPUs with PEFT can be checked and served
// here, and one trained here can go back to a PyTorch stack.
//
// A PEFT LoRA directory holds adapter_config.json (a LoraConfig: r, lora_alpha, use_rslora, target_modules,
// ...) and adapter_model.safetensors with, for each adapted projection of a decoder layer,
// base_model.model.model.layers.N.{self_attn|mlp}.{q,k,v,o,gate,up,down}_proj.lora_{A,B}.weight. Load and
// FromTensors convert such an adapter for a base model and check it against that base (layers, shapes, one
// rank, config against tensors); Save and ToTensors write one. Import also takes GGUF LoRA files as llama.cpp's
// convert_lora_to_gguf.py writes them.
//
// The package knows file formats only: deploying, scoring and serving an imported adapter is the slow
// channel's (package fastslow).
//
// safetensors files are read and written with github.com/nlpodyssey/safetensors, a Go port of the reference
// implementation's parser and its layout checks (header size limit, contiguous offsets, overflow-checked
// sizes, exact file length); this package adds the dtype conversions (F32, F16, BF16, F64 to float32).
package peft
