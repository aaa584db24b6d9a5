#!/usr/bin/env python3
"""PyTorch CPU baseline for the memorize GPT-2 (the number the WebGPU trainer is compared with).

Same architecture as packages/gpu-webgpu: GPT-2 with pre-LayerNorm blocks, learned
positions (n_positions = S), output head tied to the token embedding, GELU tanh
("gelu_new"), no dropout; weights in Hugging Face Conv1D layout ([in, out]) so a
checkpoint written by the project loads unchanged. Trained with Adam on i.i.d.
uniform random tokens (the synthetic capacity setup).

Setup (Debian):  apt-get install -y python3-torch libopenblas0-pthread
Run:             OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch/bench.py [--seconds 2]
On a GPU:        python3 bench/torch/bench.py --device cuda --compile --configs 2048,64,1,32,64 --skip-matmul
                 (eager, then torch.compile's "reduce-overhead" mode (CUDA graphs) where it works there)
Checkpoint eval: /usr/bin/python3 bench/torch/bench.py --eval-checkpoint runs/x/<runId>

Output: one JSON object per line:
  {"bench": "matmul", "n": 512, "gflops": ...}                      torch.mm float32, 2n^3 flops
  {"bench": "train", "vocab": ..., "mode": "eager", "tokens_per_s": ..., "ms_per_step": ..., "eval_sequences_per_s": ...}
  {"bench": "train", ..., "mode": "compile:reduce-overhead", "error": "..."}   torch.compile failed or is missing (torch < 2)
  {"bench": "eval-checkpoint", "sequences_per_s": ..., "mean_code_length_bits": ...}
Code lengths follow the project's convention: -sum_t log2 p(x_t | x_<t), with the first
token (no BOS) costed at log2 V bits.
"""
import argparse
import json
import math
import os
import resource
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from heap import keep_heap  # noqa: E402

if __name__ == "__main__":
    keep_heap()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

CONFIGS = [
    dict(vocab=2048, seq_len=64, layers=1, d_model=32, batch=64),
    dict(vocab=2048, seq_len=64, layers=2, d_model=64, batch=64),
    dict(vocab=256, seq_len=32, layers=1, d_model=16, batch=128),
]


class Block(torch.nn.Module):
    def __init__(self, d, heads, eps, activation):
        super().__init__()
        self.heads, self.activation = heads, activation
        self.ln_1 = torch.nn.LayerNorm(d, eps=eps)
        self.ln_2 = torch.nn.LayerNorm(d, eps=eps)
        p = torch.nn.Parameter
        # Conv1D layout, as Hugging Face GPT-2: y = x @ W + b with W [in, out].
        self.c_attn_w, self.c_attn_b = p(torch.empty(d, 3 * d)), p(torch.zeros(3 * d))
        self.c_proj_w, self.c_proj_b = p(torch.empty(d, d)), p(torch.zeros(d))
        self.c_fc_w, self.c_fc_b = p(torch.empty(d, 4 * d)), p(torch.zeros(4 * d))
        self.mlp_proj_w, self.mlp_proj_b = p(torch.empty(4 * d, d)), p(torch.zeros(d))

    def forward(self, x, mask):
        B, T, d = x.shape
        h, dh = self.heads, d // self.heads
        qkv = torch.addmm(self.c_attn_b, self.ln_1(x).reshape(B * T, d), self.c_attn_w).view(B, T, 3, h, dh)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each [B, h, T, dh]
        att = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(dh))
        att = att.masked_fill(mask[:T, :T], float("-inf")).softmax(-1)
        a = (att @ v).transpose(1, 2).reshape(B * T, d)
        x = x + torch.addmm(self.c_proj_b, a, self.c_proj_w).view(B, T, d)
        m = torch.addmm(self.c_fc_b, self.ln_2(x).reshape(B * T, d), self.c_fc_w)
        m = F.gelu(m, approximate="tanh") if self.activation == "gelu_new" else F.gelu(m)
        return x + torch.addmm(self.mlp_proj_b, m, self.mlp_proj_w).view(B, T, d)


class GPT2(torch.nn.Module):
    def __init__(self, vocab, seq_len, layers, d_model, heads, eps=1e-5, activation="gelu_new", tied=True):
        super().__init__()
        self.vocab, self.seq_len = vocab, seq_len
        self.wte = torch.nn.Parameter(torch.empty(vocab, d_model))
        self.wpe = torch.nn.Parameter(torch.empty(seq_len, d_model))
        self.h = torch.nn.ModuleList([Block(d_model, heads, eps, activation) for _ in range(layers)])
        self.ln_f = torch.nn.LayerNorm(d_model, eps=eps)
        self.lm_head = None if tied else torch.nn.Parameter(torch.empty(vocab, d_model))
        self.register_buffer("mask", torch.triu(torch.ones(seq_len, seq_len, dtype=torch.bool), 1), persistent=False)
        # GPT-2 init: normal(0, 0.02); residual projections scaled by 1/sqrt(2L).
        for name, t in self.named_parameters():
            if name.endswith("_b") or "ln_" in name:
                continue
            std = 0.02 / math.sqrt(2 * layers) if ("c_proj_w" in name or "mlp_proj_w" in name) else 0.02
            torch.nn.init.normal_(t, 0.0, std)

    def forward(self, tokens):
        T = tokens.shape[1]
        x = self.wte[tokens] + self.wpe[:T]
        for block in self.h:
            x = block(x, self.mask)
        head = self.wte if self.lm_head is None else self.lm_head
        return self.ln_f(x) @ head.t()

    def param_count(self):
        return sum(p.numel() for p in self.parameters())


def code_lengths_bits(model, tokens):
    """-sum_t log2 p(x_t|x_<t) per sequence; first token at log2 V bits."""
    logp = model(tokens).log_softmax(-1)
    nll = -logp[:, :-1].gather(-1, tokens[:, 1:, None]).squeeze(-1).sum(-1)
    return nll / math.log(2) + math.log2(model.vocab)


def bench_matmul(n, seconds):
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        torch.mm(a, b)
        reps += 1
    dt = time.perf_counter() - t0
    return dict(bench="matmul", n=n, dtype="float32", reps=reps, gflops=2 * n**3 * reps / dt / 1e9)


def timed_loop(step, seconds, warmup=2, sync=lambda: None):
    """Runs step until `seconds` passed (at least 3 times) after `warmup` untimed calls; `sync` waits for queued
    device work (a CUDA step returns before the GPU has run it), so the clock reads work done."""
    for _ in range(warmup):
        step()
    sync()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n < 3:
        step()
        n += 1
        if n % 16 == 0:
            sync()  # keeps the CPU from queueing far ahead of the GPU, so the time check means something
    sync()
    return n, time.perf_counter() - t0


def parse_config(text):
    """'V,S,L,d,B' as a config dict."""
    try:
        vocab, seq_len, layers, d_model, batch = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not V,S,L,d,B (five integers)")
    return dict(vocab=vocab, seq_len=seq_len, layers=layers, d_model=d_model, batch=batch)


def bench_train(cfg, seconds, seed=0, device="cpu", compile_mode=None):
    """Adam training steps per second of one config on `device`; with compile_mode, the model goes through
    torch.compile first (its backward is compiled with it; the loss and the optimizer step stay eager). No gradient
    clipping (our trainer clips at 1, which costs it a norm pass). Losses stay on the device until the end, so a GPU
    run is not synchronised every step (our trainer reads its loss every logEvery steps too)."""
    torch.manual_seed(seed)
    V, S, B = cfg["vocab"], cfg["seq_len"], cfg["batch"]
    heads = max(1, cfg["d_model"] // 16)
    model = GPT2(V, S, cfg["layers"], cfg["d_model"], heads).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    if compile_mode:
        # Dynamo keys its cache by function, not by model: a second config would otherwise be recompiled with its
        # shapes marked dynamic, a slower build than each config gets alone.
        torch._dynamo.reset()
    forward = torch.compile(model, mode=compile_mode, dynamic=False) if compile_mode else model
    data = torch.randint(0, V, (B * 8, S)).to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    state = {"i": 0, "loss": None}

    def step():
        i = state["i"] % 8
        batch = data[i * B:(i + 1) * B]
        logits = forward(batch)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state["i"] += 1
        state["loss"] = loss.detach()

    # A compiled model traces and (reduce-overhead) records CUDA graphs in its first calls.
    steps, dt = timed_loop(step, seconds, warmup=8 if compile_mode else 2, sync=sync)

    def evaluate():
        with torch.no_grad():
            code_lengths_bits(model, data[:B])

    # Evaluation is timed on the eager model (a compiled row leaves it out).
    eval_reps, eval_dt = (None, None) if compile_mode else timed_loop(evaluate, seconds / 2, sync=sync)
    return dict(
        bench="train", **cfg, heads=heads, params=model.param_count(), device=device,
        mode=f"compile:{compile_mode}" if compile_mode else "eager", steps=steps, seconds=round(dt, 3),
        tokens_per_s=steps * B * S / dt, ms_per_step=1000 * dt / steps,
        eval_sequences_per_s=eval_reps * B / eval_dt if eval_reps else None,
        final_loss=float(state["loss"]), threads=torch.get_num_threads(), omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
        torch=torch.__version__, device_name=torch.cuda.get_device_name() if device.startswith("cuda") else None,
    )


def best_of(cfg, args, compile_mode=None, reps=None):
    """The fastest of `reps` (default --reps) timed runs of one config (these machines are shared and noisy)."""
    runs = [bench_train(cfg, args.seconds, device=args.device, compile_mode=compile_mode) for _ in range(max(1, reps or args.reps))]
    best = max(runs, key=lambda r: r["tokens_per_s"])
    best["eval_sequences_per_s"] = max((r["eval_sequences_per_s"] or 0) for r in runs) or None
    best["reps"] = len(runs)
    # Peak resident memory of this process so far (KiB on Linux).
    best["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return best


# --- safetensors without the safetensors package -------------------------------------------

_NP = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read_safetensors(path):
    """All tensors of a .safetensors file as float32 numpy arrays: through the safetensors package when
    it is installed and the dtypes are numpy's, else (BF16, or no package) by parsing the format here."""
    try:
        from safetensors.numpy import load_file
        return {k: v.astype(np.float32) for k, v in load_file(path).items()}
    except Exception:  # package missing, or a dtype numpy lacks (BF16)
        return _parse_safetensors(path)


def _parse_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            b, e = info["data_offsets"]
            f.seek(base + b)
            raw = f.read(e - b)
            if len(raw) != e - b:
                raise ValueError(f"{path}: truncated at tensor {name}")
            dt = info["dtype"]
            if dt == "BF16":
                arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
            elif dt in _NP:
                arr = np.frombuffer(raw, dtype=np.dtype(_NP[dt]).newbyteorder("<")).astype(np.float32)
            else:
                raise ValueError(f"{path}: unsupported dtype {dt} of tensor {name}")
            out[name] = arr.reshape(info["shape"])
    return out


def load_checkpoint(path):
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    if os.path.isdir(path):
        single = os.path.join(path, "model.safetensors")
        path = single if os.path.exists(single) else os.path.join(path, "model.safetensors.index.json")
    tensors = {}
    if path.endswith(".json"):
        with open(path) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        for s in shards:
            tensors.update(read_safetensors(os.path.join(folder, s)))
    else:
        tensors = read_safetensors(path)
    tensors = {k[len("transformer."):] if k.startswith("transformer.") else k: v for k, v in tensors.items()}
    head = tensors.get("lm_head.weight")
    tied = head is None or np.array_equal(head, tensors["wte.weight"])
    act = cfg.get("activation_function", "gelu_new")
    model = GPT2(cfg["vocab_size"], cfg["n_positions"], cfg["n_layer"], cfg["n_embd"], cfg["n_head"],
                 cfg.get("layer_norm_epsilon", 1e-5), "gelu" if act == "gelu" else "gelu_new", tied)
    ours = {"wte.weight": model.wte, "wpe.weight": model.wpe, "ln_f.weight": model.ln_f.weight, "ln_f.bias": model.ln_f.bias}
    if not tied:
        ours["lm_head.weight"] = model.lm_head
    for i, blk in enumerate(model.h):
        p = f"h.{i}."
        ours.update({
            p + "ln_1.weight": blk.ln_1.weight, p + "ln_1.bias": blk.ln_1.bias,
            p + "ln_2.weight": blk.ln_2.weight, p + "ln_2.bias": blk.ln_2.bias,
            p + "attn.c_attn.weight": blk.c_attn_w, p + "attn.c_attn.bias": blk.c_attn_b,
            p + "attn.c_proj.weight": blk.c_proj_w, p + "attn.c_proj.bias": blk.c_proj_b,
            p + "mlp.c_fc.weight": blk.c_fc_w, p + "mlp.c_fc.bias": blk.c_fc_b,
            p + "mlp.c_proj.weight": blk.mlp_proj_w, p + "mlp.c_proj.bias": blk.mlp_proj_b,
        })
    with torch.no_grad():
        for name, param in ours.items():
            if name not in tensors:
                raise ValueError(f"missing tensor {name}")
            if tuple(tensors[name].shape) != tuple(param.shape):
                raise ValueError(f"tensor {name} has shape {tensors[name].shape}, expected {tuple(param.shape)}")
            param.copy_(torch.from_numpy(np.ascontiguousarray(tensors[name])))
    return model


def probe_tokens(count, seq_len, vocab):
    """A fixed, documented token set, so other implementations can recompute the same code lengths:
    x[n, t] = (131 n + 31 t + (n t mod 7)) mod V."""
    n = np.arange(count)[:, None]
    t = np.arange(seq_len)[None, :]
    return torch.from_numpy(((131 * n + 31 * t + (n * t) % 7) % vocab).astype(np.int64))


def bench_eval_checkpoint(path, seconds, batch):
    model = load_checkpoint(path).eval()
    S = min(64, model.seq_len)
    probe = probe_tokens(4, S, model.vocab)
    with torch.no_grad():
        probe_bits = code_lengths_bits(model.double(), probe).tolist()
    model = model.float()
    data = torch.randint(0, model.vocab, (batch, S))

    def evaluate():
        with torch.no_grad():
            code_lengths_bits(model, data)

    reps, dt = timed_loop(evaluate, seconds)
    return dict(bench="eval-checkpoint", checkpoint=path, vocab=model.vocab, seq_len=S, params=model.param_count(),
                batch=batch, sequences_per_s=reps * batch / dt, probe_code_lengths_bits_float64=probe_bits,
                threads=torch.get_num_threads())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=2.0, help="timed seconds per training config (eval gets half)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=1, help="timed repetitions per training config; the best is reported (shared, noisy machines)")
    ap.add_argument("--skip-matmul", action="store_true")
    ap.add_argument("--device", default="cpu", help="torch device: cpu or cuda")
    ap.add_argument("--compile", action="store_true", help="also time each config through torch.compile (reduce-overhead)")
    ap.add_argument("--configs", nargs="+", type=parse_config, metavar="V,S,L,d,B",
                    help="training configs (default: the three configs of the CPU bench)")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--eval-checkpoint", metavar="DIR", help="load a safetensors GPT-2 checkpoint and time evaluation")
    ap.add_argument("--eval-batch", type=int, default=256)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.eval_checkpoint:
        print(json.dumps(bench_eval_checkpoint(args.eval_checkpoint, args.seconds, args.eval_batch)), flush=True)
        return
    if not args.skip_matmul:
        for n in (512, 1024):
            print(json.dumps(bench_matmul(n, args.seconds / 2)), flush=True)
    if not args.skip_train:
        for cfg in args.configs or CONFIGS:
            print(json.dumps(best_of(cfg, args)), flush=True)
            if args.compile:
                try:
                    if not hasattr(torch, "compile"):
                        raise RuntimeError(f"torch {torch.__version__} has no torch.compile (needs torch >= 2)")
                    # One timing: each fresh model compiles again (tens of seconds), and CUDA graphs vary little.
                    row = best_of(cfg, args, compile_mode="reduce-overhead", reps=1)
                except Exception as e:  # the baseline is optional: say why it is missing and go on
                    row = dict(bench="train", **cfg, mode="compile:reduce-overhead", error=f"{type(e).__name__}: {e}"[:400])
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    sys.exit(main())
