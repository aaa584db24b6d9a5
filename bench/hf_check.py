"""Loads a model saved by memorize with transformers' GPT2LMHeadModel and
compares its per-sequence code lengths (bits; the first token at log2 V, as
memorize counts it) with the ones memorize computed (bench/device.ts)."""
import json, math, sys
import torch
from transformers import GPT2LMHeadModel

out = sys.argv[1]
model = GPT2LMHeadModel.from_pretrained(f"{out}/model", torch_dtype=torch.float64).eval()
rows = [json.loads(l) for l in open(f"{out}/sequences.jsonl")]
V = model.config.vocab_size
worst = 0.0
with torch.no_grad():
    for r in rows:
        ids = torch.tensor([r["tokens"]])
        logp = torch.log_softmax(model(ids).logits[0, :-1], dim=-1)
        nats = -logp.gather(1, ids[0, 1:, None]).sum().item()
        bits = nats / math.log(2) + math.log2(V)
        worst = max(worst, abs(bits - r["bits"]) / max(1.0, abs(bits)))
print(json.dumps({"sequences": len(rows), "maxRelativeDifference": worst, "example": {"transformers": bits, "memorize": rows[-1]["bits"]}}))
