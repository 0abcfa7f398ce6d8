"""Ad-hoc probe (call 1): seconds per step and peak CUDA memory of one multi-task step shaped like the
uncapped fdu-mtl-16-minilm grid (16 tasks, 16 x 256 tokens each, separate forwards, bf16 autocast),
random-weight MiniLM-sized BERT, full fine-tuning; ls and cagrad through textmtl.Backward."""
import json, statistics, sys, time
import torch
from transformers import BertConfig, BertModel
import textmtl

dev = sys.argv[1]; out = sys.argv[2]
k, batch, length = (16, 16, 256) if dev == "cuda" else (3, 2, 16)
torch.manual_seed(0)
enc = BertModel(BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                           intermediate_size=1536)).to(dev)
heads = [torch.nn.Linear(384, 2).to(dev) for _ in range(k)]
x = [torch.randint(0, 30522, (batch, length), device=dev) for _ in range(k)]
y = [torch.randint(0, 2, (batch,), device=dev) for _ in range(k)]
methods = ("ls", "cagrad", "nash_mtl", "getmtl")
bw = {m: textmtl.Backward(m, shared=enc.parameters()) for m in methods}
cuda = dev == "cuda"
def one(m):
    for p in [*enc.parameters(), *(q for h in heads for q in h.parameters())]:
        p.grad = None
    if cuda:
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    with torch.autocast(dev, dtype=torch.bfloat16, enabled=cuda):
        losses = {f"t{i}": torch.nn.functional.cross_entropy(heads[i](enc(x[i]).last_hidden_state.mean(1)).float(), y[i])
                  for i in range(k)}
    bw[m](losses)
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t, (torch.cuda.max_memory_allocated() if cuda else 0)
for m in methods:
    one(m)
times = {m: [] for m in methods}; peak = {m: 0 for m in methods}
for _ in range(3):
    for m in methods:
        s, b = one(m); times[m].append(s); peak[m] = max(peak[m], b)
res = {m: {"median_s": statistics.median(times[m]), "peak_gb": peak[m] / 1e9} for m in methods}
print(json.dumps(res, indent=1))
json.dump(res, open(out, "w"), indent=1)
