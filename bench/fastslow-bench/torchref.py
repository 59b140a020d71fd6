#!/usr/bin/env python3
"""PyTorch reference for fastslow-bench: the same llama model, LoRA and batch, in eager PyTorch.

fastslow-bench writes a directory with config.json, weights.bin (float32 tensors), tokens.bin (int32 batch) and
go_grads.bin (the Go engine's loss gradient of the LoRA tensors on that batch), then runs this script in one
of three modes and reads one JSON object from its standard output:

  check  build the model, compare loss and LoRA gradients with the Go engine's (the correctness cross-check)
  train  time LoRA training steps (forward, backward, AdamW) and report tokens/s per step
  score  time forward scoring (log-likelihood of every token, no gradient) and report tokens/s
  sgemm  time OpenBLAS cblas_sgemm at the shapes listed in config.json, on 1 and on 2 threads

The LoRA layers compute base(x) + lora_B(lora_A(x)) * scaling, as PEFT's LoraLayer does with dropout 0.
Only the standard library, numpy and torch are needed (Debian: python3-torch, libopenblas0-pthread).
"""
import argparse
import ctypes
import ctypes.util
import json
import math
import os
import re
import resource
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

LINEARS = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]


def random_model(cfg):
    """Random weights and batch at the configuration's shapes (the real-shape mode: no weights file; the
    LoRA B matrices are zero, as a new adapter's are). A tied output shares the embedding."""
    g = torch.Generator().manual_seed(1)
    d, h, v, r = cfg["dim"], cfg["hidden"], cfg["vocab"], cfg["rank"]
    kv = d // cfg["heads"] * cfg["kv_heads"]
    shapes = {"attn_q": (d, d), "attn_k": (kv, d), "attn_v": (kv, d), "attn_output": (d, d),
              "ffn_gate": (h, d), "ffn_up": (h, d), "ffn_down": (d, h)}
    randn = lambda *s: torch.randn(*s, generator=g) * 0.02
    t = {"token_embd.weight": randn(v, d), "output_norm.weight": torch.ones(d)}
    t["output.weight"] = t["token_embd.weight"] if cfg.get("tied") else randn(v, d)
    for l in range(cfg["layers"]):
        t[f"blk.{l}.attn_norm.weight"] = torch.ones(d)
        t[f"blk.{l}.ffn_norm.weight"] = torch.ones(d)
        for name, (o, i) in shapes.items():
            p = f"blk.{l}.{name}.weight"
            t[p], t[p + ".lora_a"], t[p + ".lora_b"] = randn(o, i), randn(r, i), torch.zeros(o, r)
    tokens = torch.randint(0, min(v, 128000), (cfg["batch"], cfg["seq"]), generator=g)
    return t, tokens


def load(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("random"):
        t, tokens = random_model(cfg)
        return cfg, t, tokens
    if "tensors" not in cfg:  # an sgemm-only configuration
        return cfg, {}, None
    raw = np.fromfile(os.path.join(d, "weights.bin"), dtype="<f4")
    tensors = {}
    for t in cfg["tensors"]:
        n = int(np.prod(t["shape"]))
        tensors[t["name"]] = torch.from_numpy(raw[t["offset"]:t["offset"] + n].reshape(t["shape"]).copy())
    tokens = np.fromfile(os.path.join(d, "tokens.bin"), dtype="<i4").reshape(cfg["batch"], cfg["seq"])
    return cfg, tensors, torch.from_numpy(tokens.astype(np.int64))


class LoRALinear(torch.nn.Module):
    """A frozen linear layer with a LoRA branch, computed as PEFT's LoraLayer computes it."""

    def __init__(self, w, a, b, scaling):
        super().__init__()
        self.base = torch.nn.Linear(w.shape[1], w.shape[0], bias=False)
        self.base.weight = torch.nn.Parameter(w, requires_grad=False)
        self.lora_A = torch.nn.Linear(a.shape[1], a.shape[0], bias=False)
        self.lora_A.weight = torch.nn.Parameter(a)
        self.lora_B = torch.nn.Linear(b.shape[1], b.shape[0], bias=False)
        self.lora_B.weight = torch.nn.Parameter(b)
        self.scaling = scaling

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scaling


class RMSNorm(torch.nn.Module):
    def __init__(self, w, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(w, requires_grad=False)
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Llama(torch.nn.Module):
    """The llama decoder of fastslow's weights/llama: RMSNorm, RoPE on adjacent pairs (GGUF's NORMAL mode),
    grouped-query causal attention, SwiGLU feed-forward, untied output."""

    def __init__(self, cfg, t):
        super().__init__()
        self.cfg = cfg
        self.tok = torch.nn.Embedding.from_pretrained(t["token_embd.weight"], freeze=True)
        scaling = cfg["alpha"] / cfg["rank"] if cfg["alpha"] else 1.0
        self.blocks = torch.nn.ModuleList()
        for l in range(cfg["layers"]):
            blk = torch.nn.Module()
            blk.attn_norm = RMSNorm(t[f"blk.{l}.attn_norm.weight"], cfg["norm_eps"])
            blk.ffn_norm = RMSNorm(t[f"blk.{l}.ffn_norm.weight"], cfg["norm_eps"])
            for name in LINEARS:
                p = f"blk.{l}.{name}"
                setattr(blk, name, LoRALinear(t[p + ".weight"], t[p + ".weight.lora_a"], t[p + ".weight.lora_b"], scaling))
            self.blocks.append(blk)
        self.out_norm = RMSNorm(t["output_norm.weight"], cfg["norm_eps"])
        self.output = torch.nn.Linear(cfg["dim"], cfg["vocab"], bias=False)
        self.output.weight = torch.nn.Parameter(t["output.weight"], requires_grad=False)
        hd = cfg["dim"] // cfg["heads"]
        inv = cfg["rope_base"] ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
        ang = torch.arange(cfg["seq_max"], dtype=torch.float64)[:, None] * inv[None, :]
        self.register_buffer("cos", ang.cos().float(), persistent=False)
        self.register_buffer("sin", ang.sin().float(), persistent=False)

    def rope(self, x):
        # x: [batch, heads, seq, hd]; rotate pairs (2i, 2i+1).
        n = x.shape[2]
        c, s = self.cos[:n], self.sin[:n]
        x0, x1 = x[..., 0::2], x[..., 1::2]
        return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).flatten(-2)

    def forward(self, tokens):
        cfg = self.cfg
        b, n = tokens.shape
        h, kvh = cfg["heads"], cfg["kv_heads"]
        hd = cfg["dim"] // h
        x = self.tok(tokens)
        mask = torch.full((n, n), float("-inf")).triu(1)
        for blk in self.blocks:
            xn = blk.attn_norm(x)
            q = self.rope(blk.attn_q(xn).view(b, n, h, hd).transpose(1, 2))
            k = self.rope(blk.attn_k(xn).view(b, n, kvh, hd).transpose(1, 2))
            v = blk.attn_v(xn).view(b, n, kvh, hd).transpose(1, 2)
            k = k.repeat_interleave(h // kvh, dim=1)
            v = v.repeat_interleave(h // kvh, dim=1)
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, dim=-1)
            x = x + blk.attn_output((att @ v).transpose(1, 2).reshape(b, n, cfg["dim"]))
            xn = blk.ffn_norm(x)
            x = x + blk.ffn_down(F.silu(blk.ffn_gate(xn)) * blk.ffn_up(xn))
        return self.output(self.out_norm(x))

    def loss(self, tokens):
        logits = self.forward(tokens)
        v = self.cfg["vocab"]
        return F.cross_entropy(logits[:, :-1].reshape(-1, v), tokens[:, 1:].reshape(-1))

    def lora_params(self):
        ps = []
        for blk in self.blocks:
            for name in LINEARS:
                m = getattr(blk, name)
                ps += [m.lora_A.weight, m.lora_B.weight]
        return ps


def blas_info(detect=False):
    """Which BLAS torch loaded (the shared objects mapped into this process), the OpenBLAS kernels it runs
    (openblas_get_corename of the OpenBLAS torch loaded: dlopen of its soname returns the loaded copy), and,
    with detect, the kernels OpenBLAS would pick by itself without OPENBLAS_CORETYPE."""
    info = {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "openblas_coretype_env": os.environ.get("OPENBLAS_CORETYPE", "")}
    for line in torch.__config__.show().splitlines():
        line = line.strip()
        if line.startswith("- CPU capability usage:"):
            info["torch_cpu_capability"] = line.split(":", 1)[1].strip()
        m = re.search(r"\bBLAS_INFO=([^,\s]+)", line)
        if m:
            info["torch_blas_info"] = m.group(1)
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            p = line.split()[-1]
            if "blas" in p or "mkl" in p:
                libs.add(os.path.realpath(p))
    info["blas_libs"] = sorted(libs)
    try:
        ob = ctypes.CDLL("libopenblas.so.0")
        ob.openblas_get_corename.restype = ctypes.c_char_p
        ob.openblas_get_config.restype = ctypes.c_char_p
        info["openblas_core"] = ob.openblas_get_corename().decode()
        info["openblas_config"] = ob.openblas_get_config().decode()
    except OSError:
        pass
    if detect:
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
        code = ("import ctypes; ob = ctypes.CDLL('libopenblas.so.0'); "
                "ob.openblas_get_corename.restype = ctypes.c_char_p; print(ob.openblas_get_corename().decode())")
        try:
            info["openblas_detected"] = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                                       text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            pass
    return info


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vm_hwm_mib():
    """This process's own peak resident memory (VmHWM): unlike ru_maxrss it does not count the parent's
    memory at the vfork that started it."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cmd_check(d, cfg, model, tokens):
    loss = model.loss(tokens)
    loss.backward()
    ours = torch.cat([p.grad.flatten() for p in model.lora_params()])
    go = torch.from_numpy(np.fromfile(os.path.join(d, "go_grads.bin"), dtype="<f4").copy())
    diff = (ours - go).norm() / ours.norm()
    return {"loss": loss.item(), "grad_rel_diff": diff.item(), "grad_norm": ours.norm().item()}


def cmd_train(cfg, model, tokens, steps, warmup):
    opt = torch.optim.AdamW(model.lora_params(), lr=1e-4, weight_decay=0.0)
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model.loss(tokens)
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
    n = tokens.numel()
    return {"tokens_per_s": [n / t for t in times], "loss": loss.item()}


def cmd_score(cfg, model, seqs, warmup):
    rates = []
    with torch.no_grad():
        for i, s in enumerate(seqs):
            t = torch.tensor(s, dtype=torch.int64)[None, :]
            t0 = time.perf_counter()
            logits = model.forward(t)
            lp = torch.log_softmax(logits[0, :-1], dim=-1).gather(1, t[0, 1:, None]).sum()
            dt = time.perf_counter() - t0
            if i >= warmup:
                rates.append(t.numel() / dt)
    return {"tokens_per_s": rates, "logprob": lp.item()}


def cmd_sgemm(cfg, reps):
    lib = ctypes.CDLL("libopenblas.so.0")
    f = lib.cblas_sgemm
    f.restype = None
    f.argtypes = [ctypes.c_int] * 6 + [ctypes.c_float, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                        ctypes.c_int, ctypes.c_float, ctypes.c_void_p, ctypes.c_int]
    out = []
    for threads in cfg.get("sgemm_threads") or (1, 2):
        lib.openblas_set_num_threads(threads)
        for s in cfg["sgemm_shapes"]:
            m, n, k, ta, tb = s["m"], s["n"], s["k"], s["ta"], s["tb"]
            a = np.random.rand(m * k).astype(np.float32)
            b = np.random.rand(n * k).astype(np.float32)
            c = np.zeros(m * n, dtype=np.float32)
            lda, ldb = (m if ta else k), (k if tb else n)
            args = (101, 112 if ta else 111, 112 if tb else 111, m, n, k, 1.0, a.ctypes.data, lda, b.ctypes.data,
                    ldb, 0.0, c.ctypes.data, n)
            f(*args)
            ts = []
            for _ in range(reps):
                t0 = time.perf_counter()
                f(*args)
                ts.append(time.perf_counter() - t0)
            out.append({"name": s["name"], "threads": threads, "gflops": [2 * m * n * k / t / 1e9 for t in ts]})
    return {"sgemm": out}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["check", "train", "score", "sgemm"])
    ap.add_argument("--dir", required=True, help="directory written by fastslow-bench")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg, tensors, tokens = load(args.dir)
    res = {"mode": args.mode}
    if args.mode == "sgemm":
        res.update(cmd_sgemm(cfg, args.steps))
    else:
        model = Llama(cfg, tensors)
        if args.mode == "check":
            res.update(cmd_check(args.dir, cfg, model, tokens))
        elif args.mode == "train":
            res.update(cmd_train(cfg, model, tokens, args.steps, args.warmup))
        else:
            seqs = cfg["score_seqs"]
            res.update(cmd_score(cfg, model, seqs, args.warmup))
    res["blas"] = blas_info(args.mode == "check")  # after the work: the libraries are loaded lazily
    res["peak_rss_mib"] = peak_rss_mib()
    res["vm_hwm_mib"] = vm_hwm_mib()
    json.dump(res, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
