"""Writes fuzz/corpus/pytorch/: small PyTorch checkpoints as torch.save writes them (zip
and legacy formats, f32/f16/bf16/i64, nested under "state_dict"). Needs torch; never run
in CI (the outputs are committed).

Usage: python fuzz/make_pytorch_seeds.py
"""

from pathlib import Path

import torch

out = Path(__file__).parent / "corpus" / "pytorch"
out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)
tensors = {
    "text.proj": torch.randn(4, 3),
    "visual.proj": torch.randn(3, 2).half(),
    "logit_scale": torch.tensor(4.6, dtype=torch.bfloat16),
    "positions": torch.arange(5, dtype=torch.int64),
}
torch.save(tensors, out / "zip.pt")
torch.save(tensors, out / "legacy.pt", _use_new_zipfile_serialization=False)
torch.save({"state_dict": tensors, "epoch": 3}, out / "nested.pt")
