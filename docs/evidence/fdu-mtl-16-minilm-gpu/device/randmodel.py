"""Ad-hoc (call 1): a random-weight copy of the MiniLM folder (same config and tokenizer), for the smoke test."""
import shutil, sys
from pathlib import Path
import torch
from transformers import AutoConfig, AutoModel
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
shutil.copytree(src, dst, dirs_exist_ok=True)
torch.manual_seed(0)
AutoModel.from_config(AutoConfig.from_pretrained(str(src))).save_pretrained(str(dst))
print("random model at", dst, sorted(p.name for p in dst.iterdir()))
