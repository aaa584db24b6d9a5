#!/usr/bin/env python3
"""PyTorch cross-check of a capacity run: trains bench.py's GPT-2 (the same architecture as
packages/gpu-webgpu) with the project's recipe on i.i.d. uniform sequences and prints the
memorized bits the project's `memorization` metric would report, so one spec row can be
checked against an independent trainer on the same machine.

Recipe as the project's trainers (packages/gpu-webgpu/src/train): Adam (no weight decay),
linear warmup to lr then cosine decay to 0 at --steps, global-norm clip, batches drawn as
epochs of random permutations of the training rows (the same scheme; numpy draws them, so
not the same order), fp32. Memorized bits: sum over the training sequences of
max(0, S·log2 V − L(x)), L(x) the code length with the first token at log2 V bits
(bench.py's code_lengths_bits).

Run:  /usr/bin/python3 bench/torch/capacity.py --d-model 32 --heads 2 --samples 768 --steps 3000 --lr 0.04
Output: one JSON line per --log-every steps ({"step", "loss"}) and a final {"memorized_bits", ...}.
"""
import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from heap import keep_heap  # noqa: E402

if __name__ == "__main__":
    keep_heap()  # before torch is imported

from bench import GPT2, code_lengths_bits  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def learning_rate(base, step, warmup, max_steps):
    """The project's cosine schedule (schedule.ts): 0-based step."""
    if step < warmup:
        return base * (step + 1) / warmup
    frac = min(1.0, (step - warmup) / max(1, max_steps - warmup))
    return base * 0.5 * (1 + math.cos(math.pi * frac))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", type=int, default=2048)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--d-model", type=int, default=32)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--samples", type=int, default=768)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.04)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)

    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    data = torch.from_numpy(rng.integers(0, a.vocab, size=(a.samples, a.seq_len), dtype=np.int64))
    model = GPT2(a.vocab, a.seq_len, a.layers, a.d_model, a.heads)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    order, at = None, a.samples
    t0 = time.perf_counter()
    for step in range(a.steps):
        rows = []
        while len(rows) < min(a.batch, a.samples):
            if at >= a.samples:
                order, at = rng.permutation(a.samples), 0
            take = min(a.batch - len(rows), a.samples - at)
            rows.extend(order[at:at + take].tolist())
            at += take
        batch = data[rows]
        for g in opt.param_groups:
            g["lr"] = learning_rate(a.lr, step, a.warmup, a.steps)
        logits = model(batch)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, a.vocab), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        if (step + 1) % a.log_every == 0:
            print(json.dumps(dict(step=step + 1, loss=round(loss.item(), 4))), flush=True)
    with torch.no_grad():
        h = a.seq_len * math.log2(a.vocab)
        bits = torch.cat([code_lengths_bits(model, data[i:i + 256]) for i in range(0, a.samples, 256)])
        memorized = (h - bits).clamp(min=0).sum().item()
    P = model.param_count()
    print(json.dumps(dict(params=P, samples=a.samples, steps=a.steps, lr=a.lr, heads=a.heads, seed=a.seed,
                          memorized_bits=round(memorized, 1), bits_per_param=round(memorized / P, 4),
                          seconds=round(time.perf_counter() - t0, 1), threads=torch.get_num_threads())))


if __name__ == "__main__":
    main()
