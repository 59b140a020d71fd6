# Generates adamw_torch.json, the golden AdamW trajectories the Go tests compare against.
# Run once with PyTorch installed: python3 adamw_torch.py > adamw_torch.json
import json, math
import torch

torch.set_default_dtype(torch.float32)

def grads(n, steps, scale, zero_every=0):
    out = []
    for t in range(steps):
        g = [scale * math.sin(1.7 * i + 0.9 * t + 0.3) * (1 + i % 3) for i in range(n)]
        if zero_every:
            g = [0.0 if i % zero_every == 0 else x for i, x in enumerate(g)]
        out.append([float(torch.tensor(x, dtype=torch.float32)) for x in g])
    return out

def run(case):
    p = torch.tensor(case["p0"], dtype=torch.float32, requires_grad=True)
    decay = case["weight_decay"] if case["decayed"] else 0.0
    opt = torch.optim.AdamW([p], lr=case["lrs"][0], betas=(case["beta1"], case["beta2"]),
                            eps=case["eps"], weight_decay=decay, foreach=False)
    traj = []
    for lr, g in zip(case["lrs"], case["grads"]):
        for group in opt.param_groups:
            group["lr"] = lr
        p.grad = torch.tensor(g, dtype=torch.float32) * case["grad_scale"]
        if case["clip_norm"] > 0:
            torch.nn.utils.clip_grad_norm_([p], case["clip_norm"])
        opt.step()
        traj.append(p.detach().tolist())
    case["want"] = traj
    return case

cases = [
    dict(name="defaults-decay", shape=[3, 2], p0=[0.5, -1.25, 2.0, 0.0, 1e-3, -3.0],
         beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1, decayed=True,
         lrs=[1e-2, 2e-2, 1.5e-2, 5e-3, 1e-3], grad_scale=1.0, clip_norm=0.0),
    dict(name="vector-no-decay", shape=[6], p0=[0.5, -1.25, 2.0, 0.0, 1e-3, -3.0],
         beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1, decayed=False,
         lrs=[1e-2, 2e-2, 1.5e-2, 5e-3, 1e-3], grad_scale=1.0, clip_norm=0.0),
    dict(name="low-betas-big-eps", shape=[4, 2], p0=[1, 2, 3, 4, -1, -2, -3, -4],
         beta1=0.8, beta2=0.95, eps=1e-3, weight_decay=0.0, decayed=True,
         lrs=[0.1, 0.1, 0.05, 0.05], grad_scale=1.0, clip_norm=0.0),
    dict(name="scaled-and-clipped", shape=[5, 2], p0=[0.1 * i - 0.4 for i in range(10)],
         beta1=0.9, beta2=0.98, eps=1e-6, weight_decay=0.01, decayed=True,
         lrs=[3e-3, 3e-3, 3e-3, 3e-3, 3e-3, 3e-3], grad_scale=1.0 / 7, clip_norm=0.5),
]
for c in cases:
    n = 1
    for d in c["shape"]:
        n *= d
    big = c["name"] == "scaled-and-clipped"
    c["grads"] = grads(n, len(c["lrs"]), 40.0 if big else 1.0, zero_every=4 if c["name"] == "low-betas-big-eps" else 0)
    run(c)
print(json.dumps({"torch_version": torch.__version__, "cases": cases}, indent=1))
