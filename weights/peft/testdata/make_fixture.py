#!/usr/bin/env python3
"""Writes the PEFT fixtures of package weights/peft with PyTorch (Debian's python3-torch).

For a tiny llama and a tiny qwen2 model it writes, under testdata/<arch>/:
  config.json, model.safetensors   the base model in Hugging Face's layout (transformers' names, q/k rows unpermuted)
  adapter/adapter_config.json,
  adapter/adapter_model.safetensors a LoRA adapter laid out as PEFT's save_pretrained writes it
  reference.safetensors             token ids and the logits of the base and of the adapted model, computed here in
                                    float64 by a forward pass written after transformers' LlamaForCausalLM and
                                    Qwen2ForCausalLM and PEFT's LoRA Linear (W x + b + scale * B A x)

Neither transformers, peft nor safetensors is packaged for Debian 12, so the forward pass, the adapter layout and the
safetensors writer are spelled out here; the Go tests check the files against the engine. Run from anywhere:
  apt-get install -y python3-torch && /usr/bin/python3 weights/peft/testdata/make_fixture.py
Output is deterministic (torch.Generator seeds). torch is not a dependency of the product.
"""
import json
import math
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = 384  # the size of internal/tinymodel's trained vocabulary, which the Go tests serve these models with

ARCHS = {
    "llama": dict(
        config=dict(architectures=["LlamaForCausalLM"], model_type="llama", vocab_size=VOCAB, hidden_size=64,
                    intermediate_size=160, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                    max_position_embeddings=256, rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
                    attention_bias=False, hidden_act="silu", torch_dtype="float32"),
        lora=dict(r=8, lora_alpha=16, use_rslora=False,
                  target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
        adapter_dtype=torch.float32, seed=1701),
    "qwen2": dict(
        config=dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2", vocab_size=VOCAB, hidden_size=64,
                    intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                    max_position_embeddings=256, rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
                    hidden_act="silu", torch_dtype="float32"),
        # rsLoRA scales by alpha/sqrt(r); the adapter is kept in bfloat16, as GPU training usually leaves it.
        lora=dict(r=4, lora_alpha=8, use_rslora=True, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "down_proj"]),
        adapter_dtype=torch.bfloat16, seed=2203),
}

MODULES = {"q_proj": "self_attn", "k_proj": "self_attn", "v_proj": "self_attn", "o_proj": "self_attn",
           "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp"}

DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}


def write_safetensors(path, tensors, metadata=None):
    """safetensors format: u64 header length, JSON header (dtype, shape, data_offsets), raw little-endian data."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        raw = t.view(torch.uint8).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def base_weights(cfg, g):
    d, hid, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = d // nh
    std = 0.15

    def rnd(*shape, s=std):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * s).float()

    w = {"model.embed_tokens.weight": rnd(v, d, s=1.0)}
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = 1 + rnd(d, s=0.1)
        w[p + "self_attn.q_proj.weight"] = rnd(nh * hd, d)
        w[p + "self_attn.k_proj.weight"] = rnd(nkv * hd, d)
        w[p + "self_attn.v_proj.weight"] = rnd(nkv * hd, d)
        if cfg["model_type"] == "qwen2":
            w[p + "self_attn.q_proj.bias"] = rnd(nh * hd, s=0.1)
            w[p + "self_attn.k_proj.bias"] = rnd(nkv * hd, s=0.1)
            w[p + "self_attn.v_proj.bias"] = rnd(nkv * hd, s=0.1)
        w[p + "self_attn.o_proj.weight"] = rnd(d, nh * hd)
        w[p + "post_attention_layernorm.weight"] = 1 + rnd(d, s=0.1)
        w[p + "mlp.gate_proj.weight"] = rnd(hid, d)
        w[p + "mlp.up_proj.weight"] = rnd(hid, d)
        w[p + "mlp.down_proj.weight"] = rnd(d, hid)
    w["model.norm.weight"] = 1 + rnd(d, s=0.1)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = rnd(v, d)
    return w


def lora_weights(cfg, lora, dtype, g, base):
    """PEFT's tensors: lora_A.weight [r, in] initialized kaiming-uniform as PEFT does; lora_B.weight [out, r], which
    PEFT starts at zero, filled with noise here as if trained."""
    r, out = lora["r"], {}
    for l in range(cfg["num_hidden_layers"]):
        for m in lora["target_modules"]:
            key = f"model.layers.{l}.{MODULES[m]}.{m}"
            n_out, n_in = base[key + ".weight"].shape
            bound = 1 / math.sqrt(n_in)
            a = (torch.rand(r, n_in, generator=g, dtype=torch.float64) * 2 - 1) * bound
            b = torch.randn(n_out, r, generator=g, dtype=torch.float64) * 0.2
            out[f"base_model.model.{key}.lora_A.weight"] = a.to(dtype)
            out[f"base_model.model.{key}.lora_B.weight"] = b.to(dtype)
    return out


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward(cfg, w, ids, lora=None, lora_cfg=None):
    """transformers' Llama/Qwen2 decoder in float64, with PEFT's LoRA on the targeted projections."""
    W = {k: v.double() for k, v in w.items()}
    L = {k: v.double() for k, v in (lora or {}).items()}
    scale = 0.0
    if lora_cfg:
        r, alpha = lora_cfg["r"], lora_cfg["lora_alpha"]
        scale = alpha / math.sqrt(r) if lora_cfg["use_rslora"] else alpha / r
    d, nh, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd, eps, T = d // nh, cfg["rms_norm_eps"], len(ids)

    def lin(x, key):
        y = x @ W[key + ".weight"].T
        if key + ".bias" in W:
            y = y + W[key + ".bias"]
        a = "base_model.model." + key + ".lora_A.weight"
        if a in L:
            y = y + scale * ((x @ L[a].T) @ L[a.replace("lora_A", "lora_B")].T)
        return y

    inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    freqs = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)

    x = W["model.embed_tokens.weight"][torch.tensor(ids)]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = lin(h, p + "self_attn.q_proj").view(T, nh, hd)
        k = lin(h, p + "self_attn.k_proj").view(T, nkv, hd)
        v = lin(h, p + "self_attn.v_proj").view(T, nkv, hd)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(nh // nkv, dim=1)
        v = v.repeat_interleave(nh // nkv, dim=1)
        s = torch.einsum("thd,shd->hts", q, k) / math.sqrt(hd) + mask
        o = torch.einsum("hts,shd->thd", s.softmax(-1), v).reshape(T, nh * hd)
        x = x + lin(o, p + "self_attn.o_proj")
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = lin(h, p + "mlp.gate_proj")
        x = x + lin(torch.nn.functional.silu(g) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
    return x @ head.T


def peft_config(name, lora):
    """adapter_config.json as PEFT 0.13 writes it for a LoraConfig."""
    return {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": name, "bias": "none",
        "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True, "layer_replication": None,
        "layers_pattern": None, "layers_to_transform": None, "loftq_config": {}, "lora_alpha": lora["lora_alpha"],
        "lora_dropout": 0.05, "megatron_config": None, "megatron_core": "megatron.core", "modules_to_save": None,
        "peft_type": "LORA", "r": lora["r"], "rank_pattern": {}, "revision": None,
        "target_modules": lora["target_modules"], "task_type": "CAUSAL_LM", "use_dora": False,
        "use_rslora": lora["use_rslora"],
    }


def main():
    for arch, spec in ARCHS.items():
        out = os.path.join(HERE, arch)
        os.makedirs(os.path.join(out, "adapter"), exist_ok=True)
        g = torch.Generator().manual_seed(spec["seed"])
        cfg = spec["config"]
        base = base_weights(cfg, g)
        lora = lora_weights(cfg, spec["lora"], spec["adapter_dtype"], g, base)
        ids = torch.randint(0, VOCAB, (12,), generator=g).tolist()
        with open(os.path.join(out, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2, sort_keys=True)
        write_safetensors(os.path.join(out, "model.safetensors"), base, {"format": "pt"})
        with open(os.path.join(out, "adapter", "adapter_config.json"), "w") as f:
            json.dump(peft_config("tiny-" + arch, spec["lora"]), f, indent=2, sort_keys=True)
        write_safetensors(os.path.join(out, "adapter", "adapter_model.safetensors"), lora, {"format": "pt"})
        with torch.no_grad():
            ref = {
                "tokens": torch.tensor(ids, dtype=torch.float64),  # exact: ids < 2**53
                "logits": forward(cfg, base, ids, lora, spec["lora"]),
                "logits_base": forward(cfg, base, ids),
            }
        write_safetensors(os.path.join(out, "reference.safetensors"), ref, {"torch": torch.__version__})
        print(arch, "tokens", ids, "max |adapted - base| logit", (ref["logits"] - ref["logits_base"]).abs().max().item())


if __name__ == "__main__":
    main()
