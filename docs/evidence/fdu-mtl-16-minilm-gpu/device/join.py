"""Ad-hoc (call 2): put model.safetensors back together from the high halves (hi/, this call) and the
low halves (lo/, carried by call 1 onto the same machine); check its SHA-256. Without lo/ the low
halves are zero (the weights truncated to bf16; I64 tensors taken verbatim) and exact = false."""
import json, lzma, hashlib, shutil, sys
from pathlib import Path
import numpy as np
root = Path(sys.argv[1]); dst = Path(sys.argv[2])
meta = json.loads((root / "hi" / "meta.json").read_text())
hi = np.frombuffer(lzma.decompress((root / "hi" / "model.hi.xz").read_bytes()), "<u2")
lo_file = root / "lo" / "model.lo"
exact = lo_file.is_file()
lo = np.frombuffer(lo_file.read_bytes(), "<u2") if exact else np.zeros_like(hi)
body = bytearray(((hi.astype("<u4") << 16) | lo.astype("<u4")).tobytes())
if not exact:
    verbatim = (root / "hi" / "model.verbatim").read_bytes()
    at = 0
    for a, b in meta["verbatim"]:
        body[a:b] = verbatim[at:at + b - a]; at += b - a
if meta["pad"]:
    del body[-meta["pad"]:]
raw = (root / "hi" / "model.head").read_bytes() + bytes(body)
sha = hashlib.sha256(raw).hexdigest()
shutil.copytree(root / "hi" / "model", dst, dirs_exist_ok=True)
(dst / "model.safetensors").write_bytes(raw)
info = {"exact": exact, "sha256": sha, "sha256_matches_wheel": sha == meta["sha256"], "bytes": len(raw)}
print(json.dumps(info))
if exact and sha != meta["sha256"]:
    sys.exit("reassembled model does not match the wheel's SHA-256")
